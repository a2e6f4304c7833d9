import { APIError } from "./api";

/// The server's refusal, as it said it (with the field it names).
export function ErrorBox(props: { error: unknown }) {
  if (!props.error) return null;
  const e = props.error;
  const text = e instanceof APIError && e.fields ? Object.entries(e.fields).map(([f, m]) => `${f}: ${m}`).join("; ") || e.message
    : e instanceof Error ? e.message : String(e);
  return <div className="alert alert-danger" role="alert">{text}</div>;
}
