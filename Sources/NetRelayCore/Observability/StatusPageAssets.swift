import NetRelayConfig

/// The status page's style and script, inline in the page (`StatusPage`). They live in Swift
/// strings, not in a resource file: the daemon has no Foundation (`Bundle.module` needs it),
/// and a string cannot go missing from the binary, the package or the container image.
/// Raw strings: the script reads exactly as a browser gets it.
enum StatusPageAssets {
    static let style = #"""
        body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222;background:#fff}
        h1{font-size:1.4em;margin:0 0 .3em}
        dl#daemon{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:0}
        dt{font-weight:600}dd{margin:0}
        #status{color:#555;font-family:ui-monospace,monospace;font-size:12px;overflow-wrap:anywhere}
        table{border-collapse:collapse}
        #listeners>thead th{text-align:left;border-bottom:2px solid #888;padding:.3em .6em}
        #listeners{width:100%}
        #listeners>tbody>tr>td{vertical-align:top;border-bottom:1px solid #ccc;padding:.4em .6em}
        .name{font-weight:600}.name,.address{white-space:nowrap}
        .ok{color:#176317}.bad{color:#b00020;font-weight:600}
        table.counters th{font-weight:normal;text-align:left;padding:0 .8em 0 0;color:#444;white-space:nowrap}
        table.counters tr.zeros td{text-align:left;padding:0;color:#888;font-size:12px;max-width:26em}
        table.counters td{text-align:right;padding:0 0 0 .8em;font-variant-numeric:tabular-nums}
        table.counters td.rate{color:#06c;min-width:5em}
        table.extra{font-size:12px;margin-bottom:.4em}
        table.extra caption{text-align:left;font-weight:600}
        table.extra th,table.extra td{border:1px solid #ddd;padding:0 .4em;max-width:20em;overflow-wrap:break-word}
        table.extra th{white-space:nowrap}
        footer{margin-top:1em;color:#666;font-size:12px}
        body.stale #updated{color:#b00020;font-weight:600}
        """#

    static let script = #"""
        "use strict";
        (function () {
          const REFRESH_MS = 2000, WINDOW_S = 60, FIXED = ["name", "kind", "address", "state", "reason"];
          const body = document.body;
          // The server's clock minus ours: uptime and reload ages use the daemon's clock.
          const offset = Number(body.dataset.now) - Date.now() / 1000;
          const history = new Map();   // "listener\ncounter" -> [[t, value], ...] over the last WINDOW_S
          let updates = 0, errors = 0;

          // Control characters and bidirectional overrides shown, not obeyed (as the server does).
          const visible = s => String(s).replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, c =>
            c === "\n" ? "\\n" : c === "\t" ? "\\t" : c === "\r" ? "\\r" : "\\u{" + c.charCodeAt(0).toString(16) + "}");
          // Text goes in as text nodes and attribute values only: never parsed as HTML.
          function el(tag, attrs, ...children) {
            const e = document.createElement(tag);
            for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, visible(v));
            for (const c of children) if (c !== null) e.append(c instanceof Node ? c : visible(c));
            return e;
          }
          const humanize = k => k.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
          const scalar = v => v === null || v === undefined || typeof v === "object" ? "–" : typeof v === "boolean" ? (v ? "yes" : "no") : String(v);
          function age(seconds) {
            const s = Math.max(0, Math.floor(seconds));
            if (s < 60) return s + " s";
            if (s < 3600) return Math.floor(s / 60) + " min " + s % 60 + " s";
            if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
            return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
          }
          function rate(key, t, value, seen) {
            seen.add(key);
            let h = history.get(key);
            if (!h) history.set(key, h = []);
            if (h.length && value < h[h.length - 1][1]) h.length = 0;   // counters restarted
            h.push([t, value]);
            while (h.length > 2 && t - h[1][0] >= WINDOW_S) h.shift();
            const dt = t - h[0][0];
            if (h.length < 2 || dt <= 0) return "–";
            const r = (value - h[0][1]) / dt;
            return (r === 0 ? "0" : r < 10 ? r.toFixed(2) : r.toFixed(1)) + "/s";
          }

          function daemon(doc, now) {
            const set = (id, text, ok) => { const e = document.getElementById(id); e.textContent = visible(text); if (ok !== undefined) e.className = ok ? "ok" : "bad"; };
            document.getElementById("version").textContent = visible(doc.version);
            set("ready", doc.ready ? "ready" : "not ready: " + doc.notReadyReason, doc.ready);
            set("healthy", doc.healthy ? "healthy" : "unhealthy", doc.healthy);
            set("uptime", age(now - doc.startTime));
            const r = doc.lastReload || {};
            if (r.summary) set("reload", (r.successful ? "ok, " : "FAILED, ") + age(now - r.timestamp) + " ago: " + r.summary, r.successful);
            else set("reload", "none since the start", true);
            set("status", doc.status);
          }

          const isObject = v => v !== null && typeof v === "object" && !Array.isArray(v);
          // A list: objects get one column per key, other values a row each.
          function extraTable(key, items) {
            if (!items.length) return null;
            const columns = [];
            for (const item of items) if (isObject(item)) for (const k of Object.keys(item)) if (!columns.includes(k)) columns.push(k);
            const t = el("table", { class: "extra", "data-extra": key }, el("caption", null, humanize(key)));
            if (columns.length) t.append(el("tr", null, ...columns.map(c => el("th", null, humanize(c)))));
            for (const item of items)
              t.append(isObject(item) ? el("tr", null, ...columns.map(c => el("td", null, scalar(item[c]))))
                                      : el("tr", null, el("td", { colspan: String(Math.max(1, columns.length)) }, scalar(item))));
            return t;
          }

          // Not a counter: a list of objects is a table, a scalar a row without a rate; deeper objects are left out.
          function other(k, v, counters, extras) {
            if (Array.isArray(v)) {
              const table = extraTable(k, v);
              if (table) extras.append(table);
            } else if (v === null || typeof v !== "object") {
              counters.append(el("tr", { class: "gauge" }, el("th", null, humanize(k)), el("td", { class: "total" }, scalar(v)), el("td")));
            }
          }

          function row(l, t, seen) {
            const counters = el("table", { class: "counters" }), extras = el("td"), zeros = [];
            for (const [k, v] of Object.entries(l)) {
              if (FIXED.includes(k)) continue;
              if (k === "counters" && isObject(v)) {
                for (const [c, n] of Object.entries(v)) {
                  const r = typeof n === "number" ? rate(l.name + "\n" + c, t, n, seen) : "–";
                  if (n === 0) { zeros.push(humanize(c)); continue; }
                  counters.append(el("tr", { "data-counter": c }, el("th", null, humanize(c)), el("td", { class: "total" }, scalar(n)),
                                     el("td", { class: "rate" }, r)));
                }
              } else if (isObject(v)) {
                for (const [ik, iv] of Object.entries(v)) other(ik, iv, counters, extras);   // a group of extras, one level down
              } else {
                other(k, v, counters, extras);
              }
            }
            if (zeros.length) counters.append(el("tr", { class: "zeros" }, el("td", { colspan: "3" }, "0: " + zeros.join(" · "))));
            const up = l.state === "up";
            return el("tr", { "data-listener": l.name }, el("td", { class: "name" }, l.name), el("td", { class: "kind" }, l.kind),
                      el("td", { class: "address" }, l.address),
                      el("td", { class: "state " + (up ? "ok" : "bad") }, l.state + (l.reason ? ": " + l.reason : "")),
                      el("td", null, counters.childElementCount ? counters : null), extras);
          }

          function show(doc) {
            const now = Date.now() / 1000 + offset, t = performance.now() / 1000, seen = new Set();
            daemon(doc, now);
            const tbody = el("tbody");
            for (const l of doc.listeners || []) tbody.append(row(l, t, seen));
            document.querySelector("#listeners > tbody").replaceWith(tbody);
            for (const k of history.keys()) if (!seen.has(k)) history.delete(k);
            body.classList.remove("stale");
            body.dataset.updates = String(++updates);
            document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString() + ", every " + REFRESH_MS / 1000 + " s.";
          }

          async function refresh() {
            try {
              const response = await fetch("status.json", { cache: "no-store", signal: AbortSignal.timeout(5000) });
              if (!response.ok) throw new Error("status.json answered " + response.status);
              show(await response.json());
            } catch (e) {
              body.classList.add("stale");
              body.dataset.errors = String(++errors);
              document.getElementById("updated").textContent = "Cannot reach netrelayd (" + e.message + "); retrying every " + REFRESH_MS / 1000 + " s.";
            }
            setTimeout(refresh, REFRESH_MS);
          }
          refresh();
        })();
        """#
}
