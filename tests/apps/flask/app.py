"""A minimal real Flask app."""
import platform

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():
    return "azdeploy sample: Flask\n"


@app.get("/info")
def info():
    return jsonify(python=platform.python_version(), machine=platform.machine())
