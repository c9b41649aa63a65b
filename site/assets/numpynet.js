/* NumPyNet course site: a patch for the sidebar buttons, and a cue on wide equations.
 *
 * The sidebar buttons: with sphinx-book-theme 1.4 on pydata-sphinx-theme 0.20 every page has
 * two `.primary-toggle` buttons (the theme's header's, hidden, and the book theme's, in the
 * article header) and both themes wire only the first one found (`querySelector`): tapping
 * the visible button did nothing, on a phone (the menu never opened) as on a laptop (the
 * sidebar never collapsed). Upstream: pydata/pydata-sphinx-theme#2451. Here every other
 * toggle hands its click to the first one, which carries both themes' handlers (the dialog
 * below 992 px, collapsing the sidebar above), so the behaviour stays the themes' own.
 */
(function () {
  "use strict";

  function forwardToggles(selector) {
    const all = Array.from(document.querySelectorAll(selector));
    if (all.length < 2) return;
    const wired = all[0];
    all.slice(1).forEach((button) => {
      button.addEventListener(
        "click",
        (event) => {
          event.preventDefault();
          event.stopImmediatePropagation();
          wired.click();
        },
        true,
      );
    });
  }

  /* A display equation wider than its column scrolls inside its own box (the theme makes
   * MathJax's container the scroll box); mark such equations so the stylesheet shows a cue
   * (a shadow at the hidden edge, a "scroll sideways" hint), and let the keyboard scroll them. */
  function markWideMaths() {
    document.querySelectorAll("div.math").forEach((math) => {
      const box = math.querySelector("mjx-container");
      if (!box) return;
      const wide = box.scrollWidth > box.clientWidth + 1;
      math.classList.toggle("numpynet-scrolls", wide);
      if (wide) {
        box.tabIndex = 0;
        box.setAttribute("title", "scroll sideways to read the whole equation");
      }
    });
  }

  function whenTypeset(callback) {
    const mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(callback);
    } else {
      callback();
    }
  }

  function ready() {
    forwardToggles(".primary-toggle");
    forwardToggles(".secondary-toggle");
    whenTypeset(markWideMaths);
    // An equation inside a "Show solution" block has no width until the block opens.
    document.addEventListener("toggle", () => markWideMaths(), true);
    let pending = null;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(markWideMaths, 200);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
