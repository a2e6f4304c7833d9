import { useCursorPages } from "../Pager";
import { useAPI } from "../useAPI";

interface Entry {
  id: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  source_address: string;
  outcome: "success" | "failure";
  detail: string;
}

/// Security-relevant actions, newest first, a page at a time (the server's cursor).
export function Audit() {
  const { cursor, pager } = useCursorPages();
  const page = useAPI<{ entries: Entry[]; next_cursor: string | null }>(`/api/v1/audit?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title" className="h4 mb-3">Audit log</h2>
      {page.error && <div className="alert alert-danger" role="alert">{page.error}</div>}
      <div className="table-responsive">
        <table className="table table-sm align-middle" data-testid="audit-table">
          <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Subject</th>
                     <th scope="col">From</th><th scope="col">Outcome</th><th scope="col">Detail</th></tr></thead>
          <tbody>
            {page.data?.entries.map((e) => (
              <tr key={e.id} className={e.outcome === "failure" ? "table-warning" : undefined}>
                <td className="text-nowrap">{new Date(e.at).toLocaleString()}</td>
                <td>{e.actor}</td><td>{e.action}</td><td className="text-break">{e.subject}</td>
                <td>{e.source_address}</td><td>{e.outcome}</td><td className="small text-break">{e.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {pager(page.data?.next_cursor)}
    </section>
  );
}
