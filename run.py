"""Entry point: `flask --app run …`, and `python run.py` to serve the portal with the embedded worker."""
from app import create_app

app = create_app()

if __name__ == "__main__":
    from app.jobs.worker import start_embedded_worker

    start_embedded_worker(app)
    app.run(host="127.0.0.1", port=app.config["PORT"], threaded=True, use_reloader=False)
