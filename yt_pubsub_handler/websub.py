"""Placeholder; replaced below."""

from flask import Blueprint

bp = Blueprint("websub", __name__)
