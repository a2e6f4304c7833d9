import { useEffect, useState } from "react";

// A check's form, drawn from the server's own OpenAPI document: the kinds it lists, the common
// fields, and the parameter object of the chosen kind (`http`, `icmp`, ...). A kind the server
// gains later appears here with no change to the UI, and the limits shown are the ones the
// server enforces. What the server refuses comes back as its 422, naming the field.

export interface SchemaProperty {
  type?: string;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  description?: string;
  $ref?: string;
  properties?: Record<string, SchemaProperty>;
}

interface OpenAPIDocument {
  components: { schemas: Record<string, SchemaProperty & { required?: string[] }> };
}

let documentPromise: Promise<OpenAPIDocument> | null = null;

export function openAPI(): Promise<OpenAPIDocument> {
  documentPromise ??= fetch("/api/v1/openapi.json").then((r) => {
    if (!r.ok) throw new Error(`the API description answered ${r.status}`);
    return r.json() as Promise<OpenAPIDocument>;
  }).catch((e) => { documentPromise = null; throw e; });
  return documentPromise;
}

export type CheckValues = Record<string, unknown>;

/// The fields of `schemaName` (a check, or a scheduled one) for the kind chosen in `value`.
export function CheckFields(props: { schemaName: string; value: CheckValues; onChange: (v: CheckValues) => void;
                                     errors?: Record<string, string>; idPrefix: string }) {
  const [doc, setDoc] = useState<OpenAPIDocument | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  useEffect(() => { openAPI().then(setDoc, (e) => setFailure(e instanceof Error ? e.message : String(e))); }, []);
  if (failure) return <div className="alert alert-danger" role="alert">Cannot draw the check form: {failure} (reload to retry)</div>;
  if (!doc) return <p aria-busy="true">Loading the check form…</p>;
  const schema = doc.components.schemas[props.schemaName];
  const properties = schema?.properties ?? {};
  const kinds = properties.kind?.enum ?? [];
  const kind = String(props.value.kind ?? kinds[0] ?? "");
  const resolve = (p: SchemaProperty) => (p.$ref ? doc.components.schemas[p.$ref.split("/").pop() ?? ""] : p);
  const set = (name: string, v: unknown) => {
    const next = { ...props.value };
    if (v === undefined || v === "") delete next[name]; else next[name] = v;
    props.onChange(next);
  };
  const common = Object.entries(properties).filter(([name, p]) => name !== "kind" && !p.$ref && p.type !== "object");
  const parameters = properties[kind] ? resolve(properties[kind]) : undefined;
  return (
    <div className="row g-2">
      <div className="col-12 col-md-3">
        <label htmlFor={`${props.idPrefix}-kind`} className="form-label">Kind</label>
        <select id={`${props.idPrefix}-kind`} className="form-select" value={kind}
                onChange={(e) => props.onChange({ ...stripParameters(props.value, kinds), kind: e.target.value })}>
          {kinds.map((k) => <option key={k} value={k}>{k}</option>)}
        </select>
      </div>
      {common.map(([name, p]) => (
        <Input key={name} id={`${props.idPrefix}-${name}`} name={name} property={p} required={schema.required?.includes(name) ?? false}
               value={props.value[name]} onChange={(v) => set(name, v)} error={props.errors?.[name]} />
      ))}
      {parameters?.properties && Object.entries(parameters.properties).map(([name, p]) => {
        const nested = (props.value[kind] ?? {}) as Record<string, unknown>;
        const path = `${kind}.${name}`;
        return (
          <Input key={path} id={`${props.idPrefix}-${kind}-${name}`} name={path} property={p} required={false} value={nested[name]}
                 error={props.errors?.[path]}
                 onChange={(v) => {
                   const next = { ...nested };
                   if (v === undefined || v === "") delete next[name]; else next[name] = v;
                   set(kind, Object.keys(next).length ? next : undefined);
                 }} />
        );
      })}
    </div>
  );
}

function stripParameters(value: CheckValues, kinds: string[]): CheckValues {
  const next = { ...value };
  kinds.forEach((k) => delete next[k]);
  return next;
}

/// One field: a number, a choice, a switch or text. Free-form fields (headers, status ranges)
/// are left to the API.
function Input(props: { id: string; name: string; property: SchemaProperty; required: boolean; value: unknown;
                        onChange: (v: unknown) => void; error?: string }) {
  const p = props.property;
  const invalid = props.error ? " is-invalid" : "";
  const help = p.description && <div className="form-text">{p.description}</div>;
  const feedback = props.error && <div className="invalid-feedback">{props.error}</div>;
  let control: JSX.Element;
  if (p.type === "integer" || p.type === "number") {
    control = <input id={props.id} type="number" className={`form-control${invalid}`} min={p.minimum} max={p.maximum}
                     required={props.required} value={props.value === undefined ? "" : String(props.value)}
                     onChange={(e) => props.onChange(e.target.value === "" ? undefined : Number(e.target.value))} />;
  } else if (p.type === "boolean") {
    // Absent, true or false: absent keeps the server's default (which the description states).
    control = (
      <select id={props.id} className={`form-select${invalid}`} value={props.value === undefined ? "" : String(props.value)}
              onChange={(e) => props.onChange(e.target.value === "" ? undefined : e.target.value === "true")}>
        <option value="">(default)</option>
        <option value="true">yes</option>
        <option value="false">no</option>
      </select>
    );
  } else if (p.type === "string" && p.enum) {
    control = (
      <select id={props.id} className={`form-select${invalid}`} value={String(props.value ?? "")}
              onChange={(e) => props.onChange(e.target.value || undefined)}>
        <option value="">(default)</option>
        {p.enum.map((v) => <option key={v} value={v}>{v}</option>)}
      </select>
    );
  } else if (p.type === "string") {
    control = <input id={props.id} className={`form-control${invalid}`} required={props.required} value={String(props.value ?? "")}
                     onChange={(e) => props.onChange(e.target.value)} />;
  } else {
    return null;
  }
  return (
    <div className={`col-12 ${props.name === "target" ? "col-md-6" : "col-md-3"}`}>
      <label htmlFor={props.id} className="form-label">{props.name}</label>
      {control}
      {feedback}
      {help}
    </div>
  );
}
