// The control plane's REST API, as the UI calls it: a bearer token kept for the tab's life
// (sessionStorage), JSON in and out, and the server's own error messages.

export class APIError extends Error {
  constructor(public status: number, public code: string, message: string, public fields?: Record<string, string>) {
    super(message);
  }
}

const tokenKey = "wp_token";
let token: string | null = sessionStorage.getItem(tokenKey);
const listeners = new Set<() => void>();

export function currentToken(): string | null {
  return token;
}

export function setToken(value: string | null): void {
  token = value;
  if (value) sessionStorage.setItem(tokenKey, value);
  else sessionStorage.removeItem(tokenKey);
  listeners.forEach((l) => l());
}

export function onTokenChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const json = text ? JSON.parse(text) : {};
  if (!response.ok) {
    // An expired or revoked token: back to the login page.
    if (response.status === 401 && token && path !== "/api/v1/auth/login") setToken(null);
    throw new APIError(response.status, json.error ?? "error", json.message ?? response.statusText, json.fields);
  }
  return json as T;
}

export interface User {
  id: number;
  username: string;
  role: string;
  ou_id: number | null;
  mfa_enabled?: boolean;
}

export interface LoginResponse {
  token: string;
  user: User;
  password_change_required: boolean;
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
