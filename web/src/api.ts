// The control plane's REST API, as the UI calls it. The login starts a cookie session
// (HttpOnly, SameSite=Strict: script never sees the credential); what the page keeps is the
// session's CSRF token, sent with every request that changes something. JSON in and out, and
// the server's own error messages.

export class APIError extends Error {
  constructor(public status: number, public code: string, message: string, public fields?: Record<string, string>) {
    super(message);
  }
}

const csrfKey = "wp_csrf";
let csrf: string | null = localStorage.getItem(csrfKey);
const listeners = new Set<() => void>();

/// Whether this browser holds a session (its CSRF token): the server still decides.
export function loggedIn(): boolean {
  return csrf !== null;
}

/// The session's CSRF token, for requests made without `api` (the speed test's uploads).
export function csrfToken(): string | null {
  return csrf;
}

export function setSession(csrfToken: string | null): void {
  csrf = csrfToken;
  if (csrfToken) localStorage.setItem(csrfKey, csrfToken);
  else localStorage.removeItem(csrfKey);
  listeners.forEach((l) => l());
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/// `sessionCSRF`: the CSRF token of a session this page has not adopted yet (the one-time
/// password's change, made before the page counts as logged in).
export async function api<T>(method: string, path: string, body?: unknown, sessionCSRF?: string): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = sessionCSRF ?? csrf;
  if (token && method !== "GET") headers["X-CSRF-Token"] = token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, credentials: "same-origin",
                                       body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try { json = text ? JSON.parse(text) : {}; } catch { json = { message: text.slice(0, 200) }; }
  if (!response.ok) {
    // An expired or revoked session: back to the login page.
    if (response.status === 401 && csrf && path !== "/api/v1/auth/login") setSession(null);
    throw new APIError(response.status, String(json.error ?? "error"), String(json.message ?? response.statusText),
                       json.fields as Record<string, string> | undefined);
  }
  return json as T;
}

/// Logs in with a cookie session; the answer's CSRF token becomes this page's.
export async function login(body: Record<string, string>): Promise<LoginResponse> {
  const reply = await api<LoginResponse>("POST", "/api/v1/auth/login", { ...body, session: true });
  return reply;
}

export interface User {
  id: number;
  username: string;
  role: string;
  ou_id: number | null;
  mfa_enabled?: boolean;
}

export interface LoginResponse {
  user: User;
  password_change_required: boolean;
  csrf_token: string;
}

export interface AgentStatus {
  version: string | null;
  checks_configured: number;
  checks_running: number;
  runs: number;
  skipped_runs: number;
  buffer_results: number;
  buffer_bytes: number;
  buffer_oldest_ms: number | null;
  dropped_results: number;
  last_upload_at: number | null;
  config_error: string | null;
}

export interface Device {
  id: number;
  serial: string;
  hostname: string;
  os: string;
  client_type: string;
  ou_id: number;
  active: boolean;
  status: "online" | "recent" | "offline" | "stale";
  last_seen_at: string | null;
  agent: AgentStatus | null;
}

export interface DeviceSummary {
  total: number;
  active: number;
  online: number;
  recent: number;
  offline: number;
  stale: number;
}

export interface StatisticsGroup {
  key: string | null;
  count: number;
  successes: number;
  success_rate: number;
  mean_loss_percent: number | null;
  mean: number | null;
  p50: number | null;
  p99: number | null;
}

export interface Statistics {
  since: number;
  until: number;
  groups: StatisticsGroup[];
}

export interface Alert {
  rule_id: number;
  rule_name: string;
  series: { device_id: number | null; test_type: string; target: string };
  state: "pending" | "firing";
  since: string;
  value: number | null;
}

export interface AlertRule {
  id: number;
  name: string;
  ou_id: number | null;
  metric: string;
  aggregation: string;
  window_s: number;
  comparison: string;
  threshold: number;
  for_s: number;
  enabled: boolean;
}
