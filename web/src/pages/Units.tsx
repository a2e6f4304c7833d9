import { FormEvent, useState } from "react";
import { api } from "../api";
import { ErrorBox } from "../FieldError";
import { useSession } from "../session";
import { useAPI } from "../useAPI";

export interface Unit {
  id: number;
  parent_id: number | null;
  name: string;
  description: string;
}

/// Organisation units in scope, as a tree: create (under a parent), rename, move (a parent picker
/// that offers no unit inside the one moved), delete.
export function Units() {
  const { canWrite } = useSession();
  const { data, error, reload } = useAPI<{ organization_units: Unit[] }>("/api/v1/ous");
  const [name, setName] = useState("");
  const [parent, setParent] = useState("");
  const [failure, setFailure] = useState<unknown>(null);
  const units = data?.organization_units ?? [];
  const byID = new Map(units.map((u) => [u.id, u]));
  const children = new Map<number | null, Unit[]>();
  // A unit whose parent is out of scope is a root here.
  units.forEach((u) => {
    const parentKey = u.parent_id !== null && byID.has(u.parent_id) ? u.parent_id : null;
    children.set(parentKey, [...(children.get(parentKey) ?? []), u]);
  });
  const tree: { unit: Unit; depth: number }[] = [];
  const walk = (parentKey: number | null, depth: number) =>
    (children.get(parentKey) ?? []).sort((a, b) => a.name.localeCompare(b.name)).forEach((u) => { tree.push({ unit: u, depth }); walk(u.id, depth + 1); });
  walk(null, 0);
  const inside = (id: number, ancestor: number): boolean => {
    for (let at: number | null = id; at !== null; at = byID.get(at)?.parent_id ?? null) if (at === ancestor) return true;
    return false;
  };

  async function act(action: () => Promise<unknown>) {
    setFailure(null);
    try { await action(); reload(); } catch (e) { setFailure(e); }
  }

  function create(event: FormEvent) {
    event.preventDefault();
    act(async () => {
      await api("POST", "/api/v1/ous", { name, parent_id: parent ? Number(parent) : null });
      setName("");
    });
  }

  return (
    <section aria-labelledby="units-title">
      <h2 id="units-title" className="h4 mb-3">Organisation units</h2>
      <ErrorBox error={error ?? failure} />
      {canWrite && (
        <form className="row g-2 align-items-end mb-3" onSubmit={create} aria-label="Create a unit">
          <div className="col-12 col-md-4">
            <label htmlFor="unit-name" className="form-label">Name</label>
            <input id="unit-name" className="form-control" required value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="col-12 col-md-4">
            <label htmlFor="unit-parent" className="form-label">Parent</label>
            <select id="unit-parent" className="form-select" value={parent} onChange={(e) => setParent(e.target.value)}>
              <option value="">(none: a top-level unit)</option>
              {units.map((u) => <option key={u.id} value={u.id}>{u.name}</option>)}
            </select>
          </div>
          <div className="col-auto"><button className="btn btn-primary">Create unit</button></div>
        </form>
      )}
      <table className="table table-sm">
        <thead><tr><th scope="col">Unit</th><th scope="col">Parent</th>{canWrite && <th scope="col">Actions</th>}</tr></thead>
        <tbody>
          {tree.map(({ unit: u, depth }) => (
            <tr key={u.id} data-testid={`unit-${u.name}`}>
              <td style={{ paddingLeft: `${0.25 + depth * 1.25}rem` }}>{depth > 0 && <span className="text-muted" aria-hidden="true">└ </span>}{u.name}</td>
              <td>
                {canWrite ? (
                  <select aria-label={`Parent of ${u.name}`} className="form-select form-select-sm" value={u.parent_id ?? ""}
                          onChange={(e) => act(() => api("PATCH", `/api/v1/ous/${u.id}`, { parent_id: e.target.value ? Number(e.target.value) : null }))}>
                    <option value="">(top level)</option>
                    {units.filter((p) => !inside(p.id, u.id)).map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
                  </select>
                ) : u.parent_id === null ? "–" : byID.get(u.parent_id)?.name ?? u.parent_id}
              </td>
              {canWrite && (
                <td className="d-flex gap-2">
                  <button className="btn btn-sm btn-outline-secondary" onClick={() => {
                    const renamed = window.prompt(`Rename ${u.name} to`, u.name);
                    if (renamed && renamed !== u.name) act(() => api("PATCH", `/api/v1/ous/${u.id}`, { name: renamed }));
                  }}>Rename</button>
                  <button className="btn btn-sm btn-outline-danger" onClick={() => {
                    if (window.confirm(`Delete ${u.name}?`)) act(() => api("DELETE", `/api/v1/ous/${u.id}`));
                  }}>Delete</button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
