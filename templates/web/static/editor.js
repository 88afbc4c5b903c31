// The edit page's script: every change is a PATCH /api/issues/<id> (JSON, same origin), then
// the live panel is fetched again and swapped in, so the email preview and the checks are the
// ones the server just rendered. Without this script the text form still posts (CSRF token).
(function () {
  "use strict";
  var root = document.getElementById("workspace");
  if (!root || !window.fetch) return;
  var issue = root.getAttribute("data-issue");
  var api = "/api/issues/" + encodeURIComponent(issue);
  var statusBox = document.getElementById("edit-status");
  var busy = false;

  function panel() { return document.getElementById("panel"); }
  function version() { return parseInt(panel().getAttribute("data-version"), 10); }
  function say(text, tone) {
    statusBox.className = "notice " + (tone || "ok");
    statusBox.textContent = text;
  }

  function describe(changes) {
    var out = [];
    (changes || []).forEach(function (c) {
      var what = c.changes ? Object.keys(c.changes).join(", ") : c.action;
      out.push("version " + c.version + " by " + c.who + " (" + what + ")");
    });
    return out.join("; ");
  }

  function refresh(focusKey) {
    return fetch("/issues/" + encodeURIComponent(issue) + "/edit/panel" + location.search, {
      credentials: "same-origin", headers: { "Accept": "text/html" }
    }).then(function (res) {
      if (!res.ok) throw new Error("reload failed (" + res.status + ")");
      return res.text();
    }).then(function (html) {
      root.innerHTML = html;
      var title = document.getElementById("page-title");
      var subject = document.getElementById("subject");
      if (title && subject) title.textContent = subject.value;
      bind();
      if (focusKey) {
        var el = root.querySelector('[data-key="' + focusKey + '"]');
        if (el && el.disabled) {
          var other = focusKey.indexOf("up:") === 0 ? "down:" : "up:";
          el = root.querySelector('[data-key="' + other + focusKey.split(":").slice(1).join(":") + '"]');
        }
        if (el && !el.disabled) el.focus();
      }
    });
  }

  function patch(body, focusKey, done) {
    if (busy) return;
    busy = true;
    body.version = version();
    say("Saving…", "warn");
    fetch(api, {
      method: "PATCH", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().then(function (data) { return { status: res.status, data: data }; });
    }).then(function (r) {
      if (r.status === 200) {
        var msg = "Saved: version " + r.data.version + ".";
        if (r.data.returned_to_draft) msg += " The issue was approved; it is a draft again, approve it once more.";
        say(msg, r.data.returned_to_draft ? "warn" : "ok");
        return refresh(focusKey).then(function () { if (done) done(); });
      }
      if (r.status === 409 && r.data.error === "stale") {
        say("Conflict: someone else changed this issue while you were editing (" +
          describe(r.data.changes) + "). Your change was not saved: reload the page and re-apply it.", "error");
        return;
      }
      say((r.data && r.data.message) || ("Not saved (HTTP " + r.status + ")."), "error");
    }).catch(function (err) {
      say("Not saved: " + err.message, "error");
    }).then(function () { busy = false; });
  }

  function order() {
    return Array.prototype.map.call(root.querySelectorAll("#stories > li"), function (li) {
      return li.getAttribute("data-id");
    });
  }

  function move(id, delta) {
    var ids = order();
    var k = ids.indexOf(id);
    var j = k + delta;
    if (k < 0 || j < 0 || j >= ids.length) return;
    ids.splice(k, 1);
    ids.splice(j, 0, id);
    patch({ stories: ids }, (delta < 0 ? "up:" : "down:") + id);
  }

  function counter(input, outId) {
    var out = document.getElementById(outId);
    if (!input || !out) return;
    var advice = parseInt(input.getAttribute("data-advice") || input.getAttribute("maxlength"), 10);
    var min = parseInt(input.getAttribute("data-min") || "0", 10);
    function update() {
      var n = input.value.length;
      var text = n + " / " + advice + " characters";
      if (min) text += " (aim for " + min + "–" + advice + ")";
      out.textContent = text;
      out.classList.toggle("over", n > advice || (min > 0 && n < min));
    }
    input.addEventListener("input", update);
    update();
  }

  function onClick(ev) {
    var btn = ev.target.closest("button[data-action]");
    if (!btn || !root.contains(btn)) return;
    var action = btn.getAttribute("data-action");
    var id = btn.getAttribute("data-story");
    var ids = order();
    if (action === "up") move(id, -1);
    else if (action === "down") move(id, 1);
    else if (action === "remove") {
      patch({ stories: ids.filter(function (x) { return x !== id; }) }, null);
    } else if (action === "add") {
      var item = btn.getAttribute("data-item");
      patch({ stories: ids.concat([item]) }, "down:" + item);
    } else if (action === "guide") {
      var sel = document.getElementById("guide-" + id);
      var guides = {};
      guides[id] = sel.value || null;
      patch({ guides: guides }, "guide:" + id);
    } else if (action === "merge") {
      var k = ids.indexOf(id);
      if (k > 0) patch({ merge: [[ids[k - 1], id]] }, null);
    } else if (action === "split") {
      patch({ split: [btn.getAttribute("data-item")] }, null);
    }
  }

  function bindDrag() {
    var list = document.getElementById("stories");
    if (!list) return;
    var dragged = null;
    list.addEventListener("dragstart", function (ev) {
      dragged = ev.target.closest("li[data-id]");
      if (!dragged) return;
      dragged.classList.add("dragging");
      ev.dataTransfer.effectAllowed = "move";
      ev.dataTransfer.setData("text/plain", dragged.getAttribute("data-id"));
    });
    list.addEventListener("dragover", function (ev) {
      var over = ev.target.closest("li[data-id]");
      if (!dragged || !over || over === dragged) return;
      ev.preventDefault();
      list.querySelectorAll(".drop-target").forEach(function (x) { x.classList.remove("drop-target"); });
      over.classList.add("drop-target");
    });
    list.addEventListener("drop", function (ev) {
      var over = ev.target.closest("li[data-id]");
      if (!dragged || !over || over === dragged) return;
      ev.preventDefault();
      var ids = order();
      var from = dragged.getAttribute("data-id");
      var to = over.getAttribute("data-id");
      var fromK = ids.indexOf(from);
      var toK = ids.indexOf(to);
      ids.splice(fromK, 1);
      ids.splice(toK, 0, from); // down: lands after the target; up: before it
      patch({ stories: ids }, null);
    });
    list.addEventListener("dragend", function () {
      if (dragged) dragged.classList.remove("dragging");
      list.querySelectorAll(".drop-target").forEach(function (x) { x.classList.remove("drop-target"); });
      dragged = null;
    });
  }

  function bind() {
    counter(document.getElementById("subject"), "subject-count");
    counter(document.getElementById("preheader"), "preheader-count");
    counter(document.getElementById("note"), "note-count");
    var form = document.getElementById("text-form");
    if (form) form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      patch({
        subject: document.getElementById("subject").value,
        preheader: document.getElementById("preheader").value,
        note: document.getElementById("note").value
      }, null);
    });
    var test = document.getElementById("test-form");
    if (test) test.addEventListener("submit", function (ev) {
      ev.preventDefault();
      say("Sending the test copy…", "warn");
      fetch(api + "/test", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ to: [document.getElementById("test-to").value] })
      }).then(function (res) {
        return res.json().then(function (data) { return { status: res.status, data: data }; });
      }).then(function (r) {
        if (r.status === 200 && !r.data.failed) say("Test copy sent to " + r.data.sent + " address(es).", "ok");
        else say((r.data && r.data.message) || ("Test not sent (HTTP " + r.status + ")."), "error");
      }).catch(function (err) { say("Test not sent: " + err.message, "error"); });
    });
    bindDrag();
  }

  root.addEventListener("click", onClick);
  bind();
})();
