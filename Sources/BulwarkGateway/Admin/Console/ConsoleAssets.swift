/// The admin console: plain HTML, CSS and JavaScript served by the admin listener at
/// `/admin/console` (no build chain). It talks only to the admin API, with the operator's client
/// certificate (the browser's), the admin token typed in once per tab, and a TOTP code for
/// destructive actions. Served with a strict Content-Security-Policy (`default-src 'self'`): no
/// inline script, no third-party origin.
enum ConsoleAssets {
    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Bulwark admin console</title>
        <link rel="stylesheet" href="/admin/console/app.css">
        <script src="/admin/console/app.js" defer></script>
        </head>
        <body>
        <header>
          <h1>Bulwark</h1>
          <form id="login">
            <input id="token" type="password" placeholder="admin token" autocomplete="off" size="48">
            <input id="totp" placeholder="TOTP (destructive actions)" autocomplete="off" size="12">
            <button id="connect" type="submit">Connect</button>
            <span id="status">not connected</span>
          </form>
        </header>
        <main>
          <section>
            <h2>Activity</h2>
            <div class="charts">
              <figure><canvas id="chart-frames" width="420" height="120"></canvas><figcaption>frames in per second</figcaption></figure>
              <figure><canvas id="chart-failures" width="420" height="120"></canvas><figcaption>failed logins per second</figcaption></figure>
            </div>
            <p id="gauges"></p>
          </section>
          <section>
            <h2>Live sessions</h2>
            <table id="sessions"><thead><tr><th>session</th><th>account</th><th>credential</th><th>address</th><th>risk</th><th>assurance</th><th>connections</th><th></th></tr></thead><tbody></tbody></table>
          </section>
          <section>
            <h2>Kill switch</h2>
            <form id="kill">
              <select id="kill-scope"><option value="account">account</option><option value="key">key</option><option value="global">global (everyone)</option></select>
              <input id="kill-subject" placeholder="a_… or k_…" size="28">
              <input id="kill-reason" placeholder="reason" size="28">
              <button id="kill-engage" type="submit" class="danger">Engage</button>
              <button id="kill-release" type="button">Release</button>
            </form>
            <table id="kill-switches"><thead><tr><th>scope</th><th>subject</th><th>reason</th><th>by</th><th>since</th></tr></thead><tbody></tbody></table>
          </section>
          <section>
            <h2>Rate-limit bans and IP blocks</h2>
            <table id="bans"><thead><tr><th>subject</th><th>until</th><th>level</th><th>reason</th><th></th></tr></thead><tbody></tbody></table>
            <table id="blocks"><thead><tr><th>network</th><th>reason</th><th>by</th><th>expires</th></tr></thead><tbody></tbody></table>
          </section>
          <section>
            <h2>Security events</h2>
            <table id="events"><thead><tr><th>time</th><th>rule</th><th>severity</th><th>subject</th><th>details</th></tr></thead><tbody></tbody></table>
          </section>
          <section>
            <h2>Audit</h2>
            <form id="audit-search"><input id="audit-event" placeholder="event, e.g. auth.* or security.*" size="32"><button type="submit">Search</button>
            <button id="audit-verify" type="button">Verify chain</button> <span id="audit-verdict"></span></form>
            <table id="audit"><thead><tr><th>seq</th><th>time</th><th>event</th><th>actor</th><th>outcome</th><th>details</th></tr></thead><tbody></tbody></table>
          </section>
        </main>
        </body>
        </html>
        """

    static let css = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
        header { display: flex; align-items: center; gap: 1.5em; padding: .6em 1.2em; background: #14213d; color: #fff; }
        header h1 { font-size: 1.2em; margin: 0; }
        main { padding: 0 1.2em 2em; }
        section { background: #fff; margin: 1em 0; padding: .6em 1em; border-radius: 6px; box-shadow: 0 1px 2px #0002; }
        h2 { font-size: 1em; margin: .3em 0 .6em; }
        table { border-collapse: collapse; width: 100%; margin: .4em 0; }
        th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #e3e6ea; font-variant-numeric: tabular-nums; }
        td.risk-high, td.risk-critical { color: #b00020; font-weight: 600; }
        td.risk-elevated { color: #a15c00; }
        button { cursor: pointer; }
        button.danger { background: #b00020; color: #fff; border: 0; padding: .3em .8em; border-radius: 4px; }
        .charts { display: flex; gap: 1em; flex-wrap: wrap; }
        figure { margin: 0; } figcaption { font-size: .85em; color: #555; }
        canvas { background: #fbfcfd; border: 1px solid #e3e6ea; }
        #status.ok { color: #7fff9f; } #status.error { color: #ff9f9f; }
        """

    static let javascript = #"""
        "use strict";
        // The admin console: every call goes to /admin/v1 with the token; destructive calls carry the
        // TOTP code typed in the header (the gateway then steps this certificate up for 5 minutes).
        const $ = (id) => document.getElementById(id);
        let token = sessionStorage.getItem("bulwark.token") || "";
        const series = { frames: [], failures: [] };
        let last = null;

        async function api(method, path, body, destructive) {
          const headers = { "Authorization": "Bearer " + token };
          if (body) headers["Content-Type"] = "application/json";
          if (destructive && $("totp").value) headers["X-Bulwark-TOTP"] = $("totp").value.trim();
          const response = await fetch("/admin/v1" + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
          const text = await response.text();
          const data = text && (response.headers.get("Content-Type") || "").includes("json") ? JSON.parse(text) : text;
          if (!response.ok) throw new Error((data && data.error) || response.status);
          return data;
        }

        function text(value) { return value === undefined || value === null ? "" : String(value); }
        function time(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : ""; }

        function fill(tableId, rows, columns, actions) {
          const body = $(tableId).querySelector("tbody");
          body.replaceChildren();
          for (const row of rows) {
            const tr = document.createElement("tr");
            for (const column of columns) {
              const td = document.createElement("td");
              const [content, css] = column(row);
              td.textContent = text(content);   // textContent only: nothing from the API becomes markup
              if (css) td.className = css;
              tr.appendChild(td);
            }
            if (actions) {
              const td = document.createElement("td");
              for (const [label, handler, css] of actions(row)) {
                const button = document.createElement("button");
                button.textContent = label;
                if (css) button.className = css;
                button.addEventListener("click", () => handler(row));
                td.appendChild(button);
              }
              tr.appendChild(td);
            }
            body.appendChild(tr);
          }
        }

        async function refresh() {
          const [sessions, kills, bans, blocks, events] = await Promise.all([
            api("GET", "/sessions"), api("GET", "/kill-switches"), api("GET", "/bans"), api("GET", "/ip-blocks"), api("GET", "/security-events"),
          ]);
          fill("sessions", sessions.sessions, [
            (s) => [s.session_id], (s) => [s.account_id], (s) => [s.key_id], (s) => [s.client_ip],
            (s) => [s.risk.level + " " + s.risk.score, "risk-" + s.risk.level], (s) => [s.assurance], (s) => [s.connections],
          ], (s) => [["Revoke", revokeSession, "danger"]]);
          fill("kill-switches", kills.kill_switches, [(k) => [k.scope], (k) => [k.subject], (k) => [k.reason], (k) => [k.engaged_by], (k) => [time(k.engaged_ms)]]);
          fill("bans", bans.bans, [(b) => [b.subject], (b) => [time(b.until_ms)], (b) => [b.level], (b) => [b.reason]], (b) => [["Lift", liftBan]]);
          fill("blocks", blocks.ip_blocks, [(b) => [b.cidr], (b) => [b.reason], (b) => [b.created_by], (b) => [time(b.expires_ms)]]);
          fill("events", events.events.slice(0, 50), [(e) => [time(e.ts_ms)], (e) => [e.rule], (e) => [e.severity], (e) => [e.subject], (e) => [JSON.stringify(e.details)]]);
          await chart();
        }

        function metric(textBody, name) {
          let total = 0;
          for (const line of textBody.split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) total += Number(line.split(" ").pop());
          }
          return total;
        }

        async function chart() {
          const body = await api("GET", "/metrics");
          const now = Date.now();
          const sample = { t: now, frames: metric(body, "bulwark_ws_frames_total{direction=\"in\"}") || metric(body, "bulwark_ws_frames_total"),
                           failures: metric(body, "bulwark_login_failures_total") };
          if (last) {
            const seconds = Math.max(0.001, (now - last.t) / 1000);
            series.frames.push((sample.frames - last.frames) / seconds);
            series.failures.push((sample.failures - last.failures) / seconds);
            for (const key of Object.keys(series)) if (series[key].length > 120) series[key].shift();
          }
          last = sample;
          draw($("chart-frames"), series.frames, "#14213d");
          draw($("chart-failures"), series.failures, "#b00020");
          $("gauges").textContent = "open connections " + metric(body, "bulwark_connections{state=\"open\"}") +
            " · subscriptions " + metric(body, "bulwark_subscriptions") + " · audit lag " + metric(body, "bulwark_audit_lag_ms") + " ms";
        }

        function draw(canvas, values, color) {
          const g = canvas.getContext("2d");
          g.clearRect(0, 0, canvas.width, canvas.height);
          const max = Math.max(1, ...values);
          g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
          values.forEach((v, i) => {
            const x = (i / 119) * (canvas.width - 10) + 5, y = canvas.height - 5 - (v / max) * (canvas.height - 20);
            i ? g.lineTo(x, y) : g.moveTo(x, y);
          });
          g.stroke();
          g.fillStyle = "#555"; g.fillText("max " + max.toFixed(1), 6, 12);
        }

        async function act(label, call) {
          try { await call(); $("status").textContent = label; $("status").className = "ok"; await refresh(); }
          catch (error) { $("status").textContent = label + " failed: " + error.message; $("status").className = "error"; }
        }

        function revokeSession(s) {
          if (!confirm("Revoke session " + s.session_id + " of " + s.account_id + "? Its connections close at once.")) return;
          act("revoked " + s.session_id, () => api("POST", "/sessions/" + encodeURIComponent(s.session_id) + "/revoke", null, true));
        }

        function liftBan(b) { act("lifted " + b.subject, () => api("POST", "/bans/" + encodeURIComponent(b.subject) + "/lift", null, true)); }

        function killSwitch(release) {
          const scope = $("kill-scope").value, subject = scope === "global" ? "*" : $("kill-subject").value.trim();
          const what = scope === "global" ? "EVERY account" : scope + " " + subject;
          if (!release && !confirm("Engage the kill switch for " + what + "? Open orders are cancelled and sessions end.")) return;
          const body = release ? { scope, subject } : { scope, subject, reason: $("kill-reason").value || "console" };
          act((release ? "released " : "engaged ") + what, () => api("POST", "/kill-switches" + (release ? "/release" : ""), body, true));
        }

        async function searchAudit() {
          const event = $("audit-event").value.trim();
          const result = await api("GET", "/audit?limit=100" + (event ? "&event=" + encodeURIComponent(event) : ""));
          fill("audit", result.records, [(r) => [r.seq], (r) => [new Date(r.ts_us / 1000).toISOString()], (r) => [r.event], (r) => [r.actor],
                                         (r) => [r.outcome], (r) => [JSON.stringify(r.details)]]);
        }

        async function verifyAudit() {
          try { const v = await api("GET", "/audit/verify"); $("audit-verdict").textContent = "intact: " + v.records + " records, " + v.checkpoints + " checkpoints"; }
          catch (error) { $("audit-verdict").textContent = "BROKEN: " + error.message; }
        }

        document.addEventListener("DOMContentLoaded", () => {
          $("token").value = token;
          $("login").addEventListener("submit", async (event) => {
            event.preventDefault();
            token = $("token").value.trim();
            sessionStorage.setItem("bulwark.token", token);
            try { await refresh(); $("status").textContent = "connected"; $("status").className = "ok"; }
            catch (error) { $("status").textContent = "refused: " + error.message; $("status").className = "error"; }
          });
          $("kill").addEventListener("submit", (event) => { event.preventDefault(); killSwitch(false); });
          $("kill-release").addEventListener("click", () => killSwitch(true));
          $("audit-search").addEventListener("submit", (event) => { event.preventDefault(); act("audit search", searchAudit); });
          $("audit-verify").addEventListener("click", verifyAudit);
          setInterval(() => { if (token) refresh().catch(() => {}); }, 2000);
        });
        """#
}
