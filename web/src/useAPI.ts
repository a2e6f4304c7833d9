import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "./api";

/// Loads `path` now and every `refreshMs` (0: once); the error is the server's message. Only
/// the answer for the current path counts: a slow reply to an earlier one is dropped.
export function useAPI<T>(path: string, refreshMs = 0): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const current = useRef(path);
  current.current = path;
  const load = useCallback(() => {
    api<T>("GET", path).then(
      (value) => { if (current.current === path) { setData(value); setError(null); } },
      (e) => { if (current.current === path) setError(e instanceof Error ? e.message : String(e)); },
    );
  }, [path]);
  useEffect(() => {
    load();
    if (!refreshMs) return;
    const timer = setInterval(load, refreshMs);
    return () => clearInterval(timer);
  }, [load, refreshMs]);
  return { data, error, reload: load };
}

/// The time now, renewed every `everyMs`: for paths that name a moving window.
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}
