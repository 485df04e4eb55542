(function () {
  "use strict";
  var d = document, live = d.getElementById("status");
  function say(text) {
    // Emptied first so that the same message twice is announced twice.
    live.textContent = "";
    setTimeout(function () { live.textContent = text || ""; }, 60);
  }
  var summary = d.getElementById("error-summary");
  if (summary) {
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']"), field = link && d.getElementById(link.hash.slice(1));
      if (field) {
        event.preventDefault();
        field.focus();
        field.scrollIntoView({block: "center"});
      }
    });
  }
  Array.prototype.forEach.call(d.querySelectorAll("[data-pattern]"), function (input) {
    var pattern = new RegExp(input.getAttribute("data-pattern")), box = d.getElementById(input.id + "-check");
    input.addEventListener("blur", function () {
      var value = input.value.trim();
      box.textContent = value && !pattern.test(value) ? input.getAttribute("data-check") : "";
    });
  });
  var files = d.getElementById("attachments");
  if (files) {
    files.addEventListener("change", function () {
      var notes = [], max = +files.getAttribute("data-max-files"), size = +files.getAttribute("data-max-bytes");
      if (files.files.length > max) notes.push(files.getAttribute("data-too-many"));
      Array.prototype.forEach.call(files.files, function (file) {
        if (file.size > size) notes.push(files.getAttribute("data-too-big").split("{name}").join(file.name));
      });
      d.getElementById("attachments-check").textContent = notes.join(" ");
    });
  }
  var geo = d.getElementById("geo");
  if (geo && navigator.geolocation) {
    geo.hidden = false;
    geo.addEventListener("click", function () {
      say(geo.getAttribute("data-wait"));
      navigator.geolocation.getCurrentPosition(function (position) {
        d.getElementById("latitude").value = position.coords.latitude.toFixed(6);
        d.getElementById("longitude").value = position.coords.longitude.toFixed(6);
        say(geo.getAttribute("data-ok"));
      }, function () { say(geo.getAttribute("data-fail")); }, {enableHighAccuracy: true, timeout: 20000, maximumAge: 60000});
    });
  }
  var form = d.getElementById("report");
  if (form) form.addEventListener("submit", function () { say(form.getAttribute("data-sending")); });
  var copy = d.getElementById("copy"), code = d.getElementById("tracking-code");
  if (copy && code) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      function select() {
        var range = d.createRange(), selection = window.getSelection();
        range.selectNodeContents(code);
        selection.removeAllRanges();
        selection.addRange(range);
        var copied = false;
        try { copied = d.execCommand("copy"); } catch (error) { copied = false; }
        say(copy.getAttribute(copied ? "data-copied" : "data-failed"));
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(code.textContent.trim()).then(function () {
          say(copy.getAttribute("data-copied"));
        }, select);
      } else {
        select();
      }
    });
  }
})();
