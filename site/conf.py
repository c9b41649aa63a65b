"""Sphinx configuration of the course site (both builds); run through site/build.py."""

from __future__ import annotations

import os

project = "NumPyNet"
author = "NumPyNet course"
copyright = "NumPyNet course, MIT licence"
BUILD = os.environ.get("NUMPYNET_SITE_BUILD", "solved")

extensions = ["myst_nb"]
# The notebooks arrive executed (site/build.py caches them): never re-run them here.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
exclude_patterns = ["downloads/**", "**/.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "NumPyNet" + (" - solved course" if BUILD == "solved" else " - student pages")
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": False,  # the banner of each page links the student notebook
    "use_fullscreen_button": False,
    "use_repository_button": False,
}
html_favicon = "assets/favicon.svg"  # else browsers ask the server for /favicon.ico
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False

# MathJax 3 served with the site (build.py copies it from the sphinx-mathjax-offline
# package), SVG output so that no web font is needed: the pages typeset their maths without
# reaching any server. myst-nb sets the classes MathJax processes (myst_update_mathjax).
html_static_path = [
    "assets",
    *([os.environ["NUMPYNET_SITE_STATIC"]] if "NUMPYNET_SITE_STATIC" in os.environ else []),
]
mathjax_path = "mathjax/tex-svg.js"
# textmacros: `\_` and other text-mode macros inside `\text{...}` print as intended instead
# of a literal backslash (a lesson writing `\text{log\_softmax}` still renders right).
mathjax3_config = {
    "loader": {"load": ["[tex]/textmacros"]},
    "tex": {"packages": {"[+]": ["textmacros"]}},
}
# assets/numpynet.js patches the theme's sidebar buttons (see site/README.md, "The theme");
# assets/numpynet.css: phone layout, equation boxes, the "Show solution" blocks.
html_js_files = ["numpynet.js"]
html_css_files = ["numpynet.css"]
# pydata-sphinx-theme logs a console error when no colour mode is set.
html_context = {"default_mode": "light"}
