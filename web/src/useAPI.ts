import { useCallback, useEffect, useState } from "react";
import { api } from "./api";

/// Loads `path` now and every `refreshMs` (0: once); the error is the server's message.
export function useAPI<T>(path: string, refreshMs = 0): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    api<T>("GET", path).then(
      (value) => { setData(value); setError(null); },
      (e) => setError(e instanceof Error ? e.message : String(e)),
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
