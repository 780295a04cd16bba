"""The local web studio: `service.Studio` (plain Python) behind `app.create_app` (FastAPI).

Start it with `timbrespace studio BUNDLE` or `timbrespace.studio.app.run(bundle)`. The HTTP
contract is `API.md` in this folder. Import `app` only when serving: it needs FastAPI.
"""
