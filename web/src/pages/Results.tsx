import { FormEvent, Fragment, useState } from "react";
import { useCursorPages } from "../Pager";
import { useAPI } from "../useAPI";

interface StoredResult {
  id: number;
  created_at: number;
  test_type: string;
  target: string;
  outcome: string;
  success: boolean;
  device_id: number | null;
  latency_ms: number | null;
  loss_percent: number | null;
  [field: string]: unknown;
}

interface Filters { test_type: string; target: string; device_id: string; since: string; until: string }

/// `datetime-local` text as epoch milliseconds ("" stays absent).
function millis(local: string): string {
  return local ? String(new Date(local).getTime()) : "";
}

/// The results in your scope: filters, the server's cursor paging, and each result's full
/// stored document.
export function Results() {
  const [draft, setDraft] = useState<Filters>({ test_type: "", target: "", device_id: "", since: "", until: "" });
  const [filters, setFilters] = useState<Filters>(draft);
  const { cursor, pager, reset } = useCursorPages();
  const [open, setOpen] = useState<number | null>(null);
  const query = new URLSearchParams({ limit: "50" });
  if (filters.test_type) query.set("test_type", filters.test_type);
  if (filters.target) query.set("target", filters.target);
  if (filters.device_id) query.set("device_id", filters.device_id);
  if (filters.since) query.set("since", millis(filters.since));
  if (filters.until) query.set("until", millis(filters.until));
  if (cursor) query.set("cursor", cursor);
  const page = useAPI<{ results: StoredResult[]; next_cursor: string | null }>(`/api/v1/results?${query}`);

  function apply(event: FormEvent) {
    event.preventDefault();
    reset();
    setFilters(draft);
  }
  const field = (key: keyof Filters, label: string, type = "text") => (
    <div className="col-6 col-md-2">
      <label htmlFor={`results-${key}`} className="form-label">{label}</label>
      <input id={`results-${key}`} type={type} className="form-control" value={draft[key]}
             onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />
    </div>
  );
  const ms = (v: number | null) => (v === null || v === undefined ? "–" : v.toFixed(v < 10 ? 3 : 1));

  return (
    <section aria-labelledby="results-title">
      <h2 id="results-title" className="h4 mb-3">Results</h2>
      <form className="row g-2 align-items-end mb-3" onSubmit={apply} aria-label="Filter results">
        <div className="col-6 col-md-2">
          <label htmlFor="results-test_type" className="form-label">Kind</label>
          <select id="results-test_type" className="form-select" value={draft.test_type} onChange={(e) => setDraft({ ...draft, test_type: e.target.value })}>
            <option value="">any</option>
            {["icmp", "tcp", "udp", "http"].map((k) => <option key={k} value={k}>{k}</option>)}
          </select>
        </div>
        {field("target", "Target")}
        {field("device_id", "Device id", "number")}
        {field("since", "From", "datetime-local")}
        {field("until", "Until", "datetime-local")}
        <div className="col-auto"><button className="btn btn-primary">Apply</button></div>
      </form>
      {page.error && <div className="alert alert-danger" role="alert">{page.error}</div>}
      <div className="table-responsive">
        <table className="table table-sm align-middle" data-testid="results-table">
          <thead><tr><th scope="col">When</th><th scope="col">Kind</th><th scope="col">Target</th><th scope="col">Outcome</th>
                     <th scope="col">Latency ms</th><th scope="col">Loss %</th><th scope="col">Device</th><th scope="col" /></tr></thead>
          <tbody>
            {page.data?.results.map((r) => (
              <Fragment key={r.id}>
                <tr className={r.success ? undefined : "table-warning"}>
                  <td className="text-nowrap">{new Date(r.created_at).toLocaleString()}</td>
                  <td>{r.test_type}</td><td className="text-break">{r.target}</td><td>{r.outcome}</td>
                  <td>{ms(r.latency_ms)}</td><td>{ms(r.loss_percent)}</td><td>{r.device_id ?? "–"}</td>
                  <td><button className="btn btn-sm btn-link" aria-expanded={open === r.id}
                              onClick={() => setOpen(open === r.id ? null : r.id)}>{open === r.id ? "Hide" : "Document"}</button></td>
                </tr>
                {open === r.id && (
                  <tr><td colSpan={8}><pre className="small mb-0" data-testid="result-document">{JSON.stringify(r, null, 2)}</pre></td></tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      </div>
      {page.data && !page.data.results.length && <p className="text-muted">No results match.</p>}
      {pager(page.data?.next_cursor)}
    </section>
  );
}
