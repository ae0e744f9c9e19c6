/* Behaviour shared by the parent area's pages. The area's Content-Security-Policy forbids inline
   scripts and onclick attributes, so buttons declare what they do with data-* attributes. */
(function () {
  "use strict";
  // <button data-print> prints the page (receipts).
  var printButtons = document.querySelectorAll("[data-print]");
  for (var i = 0; i < printButtons.length; i++) {
    printButtons[i].addEventListener("click", function () { window.print(); });
  }
})();
