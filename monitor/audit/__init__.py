"""`alpr-monitor audit`: judge whole exports offline and write a report a privacy commission can read.

An `AuditRun` streams adapter items through the engine (the same classifier as the live worker), writes
findings as they are made (findings.jsonl: contract v1 alerts; findings.csv: flat; errors.csv: malformed
records with file, line and reason) and keeps only bounded aggregates, from which `finish` writes
report.html (self-contained: inline CSS, charts as data URIs), summary.md and summary.json.
Plates and user names appear only as keyed hashes.
"""

from monitor.audit._info import InputFile, RunInfo
from monitor.audit._run import AuditResult, AuditRun, summary_figures
from monitor.audit._tally import Caps, Tally, Totals

__all__ = ["AuditResult", "AuditRun", "Caps", "InputFile", "RunInfo", "Tally", "Totals", "summary_figures"]
