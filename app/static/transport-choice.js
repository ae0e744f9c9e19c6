/* The weeks page: under each transport select, the chosen stop and its times in full. On a 375 px
   phone the select shows only the start of its text and the pick-up time was cut off. */
(function () {
  "use strict";
  var outputs = document.querySelectorAll("[data-chosen-for]");
  function show(select, output) {
    var option = select.options[select.selectedIndex];
    var times = option ? option.getAttribute("data-times") : null;
    output.textContent = times || (option && option.value === "onsite" ? "Accueil sur site : vous déposez votre enfant." : "");
  }
  for (var i = 0; i < outputs.length; i++) {
    (function (output) {
      var select = document.getElementById(output.getAttribute("data-chosen-for"));
      if (!select) { return; }
      select.addEventListener("change", function () { show(select, output); });
      show(select, output);
    })(outputs[i]);
  }
})();
