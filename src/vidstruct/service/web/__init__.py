"""The web app's static files (ES modules, CSS, index.html), served by :mod:`vidstruct.service.api.web`."""
