"""Static parts of the HTML report: status colours, the stylesheet and the filter script.

Kept apart from html_report.py so the renderer reads as logic; nothing here comes from a result.
"""

from __future__ import annotations

from scanner.model import Status

# Worst first: the order of columns, legends and chart segments.
ORDER = (Status.FAIL, Status.EXPIRED, Status.ERROR, Status.MANUAL, Status.WAIVED,
         Status.ATTESTED, Status.PASS, Status.NOT_APPLICABLE)

COLORS = {
    Status.FAIL: "#c62828", Status.EXPIRED: "#e65100", Status.ERROR: "#8e24aa",
    Status.MANUAL: "#f9a825", Status.WAIVED: "#5c6bc0", Status.ATTESTED: "#00897b",
    Status.PASS: "#2e7d32", Status.NOT_APPLICABLE: "#90a4ae", Status.ADVISORY: "#6d4c41",
}

MEANING = {
    Status.FAIL: "an automated control found the requirement not met",
    Status.EXPIRED: "the attestation is past its expiry: counts as a failure",
    Status.ERROR: "a probe or check could not run: no verdict",
    Status.MANUAL: "organisational clause without an attestation",
    Status.WAIVED: "a failure covered by a valid waiver (still shown)",
    Status.ATTESTED: "organisational clause answered by a valid attestation",
    Status.PASS: "every automated control met the requirement",
    Status.NOT_APPLICABLE: "nothing on the target this clause applies to",
    Status.ADVISORY: "hardening advice the annex does not state was not met: never fails the "
                     "clause",
}


def status_css() -> str:
    rules = []
    for status, color in COLORS.items():
        text = "#212121" if status in (Status.MANUAL, Status.NOT_APPLICABLE) else "#fff"
        rules.append(f".b-{status.value}{{background:{color};color:{text}}}"
                     f".clause.s-{status.value}{{border-left-color:{color}}}")
    return "\n".join(rules)


CSS = """
:root{--ink:#1f2933;--muted:#5f6b7a;--line:#d9dee5;--bg:#f4f6f9;--card:#fff;--accent:#1d3557}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--ink);
 font:14px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:1320px;margin:0 auto;padding:0 24px 48px}
header.top{background:var(--accent);color:#fff;padding:22px 0 18px;margin-bottom:20px}
header.top .inner{max-width:1320px;margin:0 auto;padding:0 24px}
header.top h1{margin:2px 0 8px;font-size:26px;font-weight:600}
.brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;opacity:.8}
.outcome{display:inline-block;padding:6px 12px;border-radius:4px;font-weight:600;margin:4px 0 10px}
.outcome.o-1{background:#c62828}.outcome.o-3{background:#8e24aa}.outcome.o-0{background:#2e7d32}
dl.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:4px 24px;
 margin:6px 0 0}
dl.meta div{display:flex;gap:8px}dl.meta dt{opacity:.75;min-width:96px}
dl.meta dd{margin:0;font-weight:500;overflow-wrap:break-word;min-width:0}
section.card{background:var(--card);border:1px solid var(--line);border-radius:6px;
 padding:16px 20px;margin:0 0 18px}
h2{font-size:19px;margin:0 0 12px;color:var(--accent)}
h3{font-size:16px;margin:18px 0 10px}
p.note{color:var(--muted);margin:6px 0 10px;font-size:13px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;font-size:12.5px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.zero{color:#b0b8c3}
.badge{display:inline-block;min-width:22px;padding:1px 8px;border-radius:10px;font-size:12px;
 font-weight:600;text-align:center;white-space:nowrap}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:8px 0;font-size:12.5px;color:var(--muted)}
.legend span.badge{margin-right:4px}
.dist{display:flex;height:12px;min-width:160px;border-radius:3px;overflow:hidden;background:#eceff1}
.dist span{display:block;height:100%}
svg.chart{width:100%;max-width:1100px;height:auto;display:block;margin:6px 0}
svg.chart text{font-family:inherit;font-size:12px;fill:#1f2933}
svg.chart text.in{fill:#fff;font-size:11px;font-weight:600}svg.chart text.dk{fill:#212121}
svg.chart line{stroke:#e1e5ea}
table.matrix td,table.matrix th{padding:3px 8px}
table.matrix a{text-decoration:none}
a{color:#1565c0}
code,pre,.mono{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px}
.filters{position:sticky;top:0;z-index:2;background:#fff;border:1px solid var(--line);
 border-radius:6px;
 padding:8px 14px;margin:0 0 14px;display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center}
.filters label{white-space:nowrap;cursor:pointer}
.addr{color:var(--muted);font-weight:400;font-size:.9em}
table.probes{width:auto;min-width:60%;margin-bottom:6px}
.clause{border:1px solid var(--line);border-left:6px solid #999;border-radius:5px;padding:10px 14px;
 margin:0 0 12px;background:#fff;break-inside:avoid}
.clause header{display:flex;flex-wrap:wrap;gap:6px 12px;align-items:baseline}
.clause .cid{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-weight:700;font-size:13px}
.clause .ctitle{font-weight:600}
.clause .section{color:var(--muted);font-size:12.5px}
.req{margin:8px 0;padding:6px 10px;background:#f7f8fa;border-left:3px solid #cfd6df}
blockquote.quote{margin:8px 0;padding:6px 10px;background:#fbfaf5;border-left:3px solid #b8a46a;
 font-style:italic}
blockquote.quote p{margin:0 0 4px}
.basis{display:inline-block;margin-top:2px;padding:0 5px;border-radius:3px;font-size:11px;
 background:#efebe9;color:#4e342e}
.label{display:block;font-size:11px;text-transform:uppercase;letter-spacing:.06em;
 color:var(--muted)}
table.controls{margin-top:6px;table-layout:fixed}
table.controls td{font-size:13px;overflow-wrap:anywhere}
table.controls .sev{color:var(--muted);font-size:12px}
details summary{cursor:pointer;color:#37474f}
details summary code{white-space:pre-wrap;overflow-wrap:anywhere}
pre{background:#f5f7fa;border:1px solid var(--line);border-radius:4px;padding:8px;margin:6px 0 0;
 max-height:420px;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}
.box{margin:8px 0 0;padding:8px 12px;border-radius:4px;border:1px solid var(--line)}
.box.attest{background:#fffbea;border-color:#f3dd8a}
.box.attestation{background:#e9f6f4;border-color:#9fd4cb}
.box.waiver{background:#eef0fb;border-color:#b9c0ea}
.box.lapsed{background:#fdeeee;border-color:#efb1b1}
.box dl{display:grid;grid-template-columns:150px 1fr;gap:3px 12px;margin:4px 0 0}
.box dt{color:var(--muted)}.box dd{margin:0}
.warn{color:#b71c1c;font-weight:600}
footer{color:var(--muted);font-size:12.5px;margin-top:24px}
@media print{.filters{display:none}body{background:#fff}section.card,.clause{border-color:#bbb}}
"""

# The only script: status/target filters. The page is complete without it (filters stay hidden).
SCRIPT = """
(function(){
  var bar=document.getElementById('filters'); bar.hidden=false;
  var shown=document.getElementById('shown');
  function apply(){
    var on={}, target=bar.querySelector('select').value, n=0;
    bar.querySelectorAll('input[name=status]').forEach(function(i){on[i.value]=i.checked;});
    document.querySelectorAll('section.target').forEach(function(s){
      s.hidden = target!=='' && s.dataset.target!==target;});
    document.querySelectorAll('article.clause').forEach(function(c){
      c.hidden = !on[c.dataset.status] || (target!=='' && c.dataset.target!==target);
      if(!c.hidden){n++;}});
    shown.textContent = n + ' clause result(s) shown';
  }
  bar.addEventListener('change', apply); apply();
})();
"""
