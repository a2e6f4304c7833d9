import { useState } from "react";

/// Paging over the server's cursors (`next_cursor`): the cursors of the pages before this one
/// are kept, so Newer goes back. `reset` returns to the first page (new filters).
export function useCursorPages() {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const pager = (next: string | null | undefined) => (
    <div className="d-flex gap-2">
      <button className="btn btn-sm btn-outline-secondary" disabled={!cursors.length} onClick={() => setCursors(cursors.slice(0, -1))}>Newer</button>
      <button className="btn btn-sm btn-outline-secondary" disabled={!next} onClick={() => next && setCursors([...cursors, next])}>Older</button>
    </div>
  );
  return { cursor, pager, reset: () => setCursors([]) };
}
