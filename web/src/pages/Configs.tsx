import { FormEvent, useState } from "react";
import { api, APIError } from "../api";
import { CheckFields, CheckValues } from "../CheckForm";
import { ErrorBox } from "../FieldError";
import { useSession } from "../session";
import { useAPI } from "../useAPI";
import { Unit } from "./Units";

interface ClientConfig {
  ou_id: number | null;
  name: string;
  config: Record<string, unknown> & { interval_seconds: number; checks?: CheckValues[] };
  updated_at: string;
}

/// Client configurations: the default and each unit's own, with their scheduled checks edited
/// in a form drawn from the server's `ScheduledCheck` schema. The server validates the whole
/// document; its refusal is shown on the field it names (`config.checks[2].every_s`). The rest of
/// the document (the original clients' `tests`, thresholds) is kept as it was.
export function Configs() {
  const { canWrite } = useSession();
  const configs = useAPI<{ configs: ClientConfig[] }>("/api/v1/configs");
  const units = useAPI<{ organization_units: Unit[] }>("/api/v1/ous");
  const [editing, setEditing] = useState<{ ou: string; name: string; document: ClientConfig["config"]; checks: CheckValues[] } | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const unitName = (id: number | null) => (id === null ? "default (every unit without its own)" : units.data?.organization_units.find((u) => u.id === id)?.name ?? `#${id}`);
  const fields = failure instanceof APIError ? failure.fields ?? {} : {};

  function edit(c: ClientConfig | null, ou: string) {
    setFailure(null);
    setSaved(null);
    const document = c?.config ?? { interval_seconds: 300 };
    setEditing({ ou, name: c?.name ?? "", document, checks: [...(c?.config.checks ?? [])] });
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    if (!editing) return;
    setFailure(null);
    const config: Record<string, unknown> = { ...editing.document, checks: editing.checks };
    try {
      const path = editing.ou === "default" ? "/api/v1/configs/default" : `/api/v1/ous/${editing.ou}/config`;
      await api("PUT", path, { name: editing.name, config });
      setSaved(`Saved '${editing.name}': agents pick it up within their poll period.`);
      setEditing(null);
      configs.reload();
    } catch (e) {
      setFailure(e);
    }
  }

  const checkErrors = (i: number) => {
    const prefix = `config.checks[${i}].`;
    return Object.fromEntries(Object.entries(fields).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  };
  const unconfigured = (units.data?.organization_units ?? []).filter((u) => !configs.data?.configs.some((c) => c.ou_id === u.id));

  return (
    <section aria-labelledby="configs-title">
      <h2 id="configs-title" className="h4 mb-3">Client configurations</h2>
      <ErrorBox error={configs.error} />
      {saved && <div className="alert alert-success" role="status">{saved}</div>}
      <div className="table-responsive">
        <table className="table table-sm align-middle">
          <thead><tr><th scope="col">Applies to</th><th scope="col">Name</th><th scope="col">Checks</th><th scope="col">Updated</th>{canWrite && <th scope="col" />}</tr></thead>
          <tbody>
            {configs.data?.configs.map((c) => (
              <tr key={String(c.ou_id)} data-testid={`config-${c.name}`}>
                <td>{unitName(c.ou_id)}</td><td>{c.name}</td><td>{c.config.checks?.length ?? 0}</td>
                <td>{new Date(c.updated_at).toLocaleString()}</td>
                {canWrite && (
                  <td><button className="btn btn-sm btn-outline-secondary" onClick={() => edit(c, c.ou_id === null ? "default" : String(c.ou_id))}>Edit</button></td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {canWrite && !editing && (
        <div className="d-flex flex-wrap gap-2 align-items-end mb-3">
          <div>
            <label htmlFor="config-new-unit" className="form-label">New configuration for</label>
            <select id="config-new-unit" className="form-select" defaultValue="" onChange={(e) => e.target.value && edit(null, e.target.value)}>
              <option value="">choose…</option>
              {!configs.data?.configs.some((c) => c.ou_id === null) && <option value="default">the default</option>}
              {unconfigured.map((u) => <option key={u.id} value={u.id}>{u.name}</option>)}
            </select>
          </div>
        </div>
      )}
      {editing && (
        <form className="card card-body" onSubmit={save} aria-label="Edit a client configuration">
          <ErrorBox error={failure} />
          <div className="row g-2 mb-3">
            <div className="col-12 col-md-4">
              <label htmlFor="config-name" className="form-label">Name</label>
              <input id="config-name" className={`form-control${fields.name ? " is-invalid" : ""}`} required value={editing.name}
                     onChange={(e) => setEditing({ ...editing, name: e.target.value })} />
            </div>
            <div className="col-6 col-md-3">
              <label htmlFor="config-interval" className="form-label">interval_seconds (original clients)</label>
              <input id="config-interval" type="number" min={1}
                     className={`form-control${fields["config.interval_seconds"] ? " is-invalid" : ""}`}
                     value={String(editing.document.interval_seconds ?? "")}
                     onChange={(e) => setEditing({ ...editing, document: { ...editing.document, interval_seconds: Number(e.target.value) } })} />
              {fields["config.interval_seconds"] && <div className="invalid-feedback">{fields["config.interval_seconds"]}</div>}
            </div>
          </div>
          <h3 className="h6">Checks ({editing.checks.length})</h3>
          {editing.checks.map((check, i) => (
            <fieldset key={i} className="border rounded p-2 mb-2" data-testid={`check-${i}`}>
              <legend className="fs-6 float-none w-auto px-1 mb-0">Check {i + 1}</legend>
              <CheckFields schemaName="ScheduledCheck" value={check} idPrefix={`check-${i}`} errors={checkErrors(i)}
                           onChange={(v) => setEditing({ ...editing, checks: editing.checks.map((c, j) => (j === i ? v : c)) })} />
              <button type="button" className="btn btn-sm btn-outline-danger mt-2"
                      onClick={() => setEditing({ ...editing, checks: editing.checks.filter((_, j) => j !== i) })}>Remove check {i + 1}</button>
            </fieldset>
          ))}
          <div className="d-flex flex-wrap gap-2 mt-2">
            <button type="button" className="btn btn-outline-primary"
                    onClick={() => setEditing({ ...editing, checks: [...editing.checks, { kind: "icmp", target: "", every_s: 60 }] })}>Add a check</button>
            <button className="btn btn-primary">Save configuration</button>
            <button type="button" className="btn btn-outline-secondary" onClick={() => setEditing(null)}>Cancel</button>
          </div>
        </form>
      )}
    </section>
  );
}
