// console.js: the console's only script of its own, loaded from our origin
// (strict CSP, no inline script).
// 1. The browser's time zone, sent once: without the oneapi_tz cookie the
//    server shows UTC, so the cookie is set and the page drawn again.
// 2. Copy buttons: <button data-copy="#id"> copies that field's value.
(function () {
  "use strict";
  if (document.cookie.indexOf("oneapi_tz=") < 0 && window.Intl) {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && /^[A-Za-z0-9_\/+-]+$/.test(tz)) {
      document.cookie = "oneapi_tz=" + tz + "; path=/; max-age=31536000; samesite=lax";
      if (document.cookie.indexOf("oneapi_tz=") >= 0 && tz !== "UTC") {
        location.reload();
      }
    }
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("[data-copy]") : null;
    if (!b) return;
    var f = document.querySelector(b.getAttribute("data-copy"));
    if (!f) return;
    var text = f.value !== undefined ? f.value : f.textContent;
    var done = function () { b.setAttribute("data-copied", "true"); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { f.select && f.select(); });
    } else if (f.select) {
      f.select(); document.execCommand("copy"); done();
    }
  });
})();

// 3. The dashboard's notice, dismissed: remembered per notice text.
(function () {
  "use strict";
  var n = document.querySelector("[data-notice]");
  if (!n) return;
  var id = "oneapi-notice-" + n.getAttribute("data-notice");
  try { if (localStorage.getItem(id)) { n.hidden = true; return; } } catch (e) {}
  var b = n.querySelector("[data-dismiss-notice]");
  if (b) b.addEventListener("click", function () {
    n.hidden = true;
    try { localStorage.setItem(id, "1"); } catch (e) {}
  });
})();
