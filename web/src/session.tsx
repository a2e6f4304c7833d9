import { createContext, useContext } from "react";
import { User } from "./api";

/// Who is logged in, and what their role lets the UI offer. The server decides: this only keeps
/// controls a role may not use off the page (a reporter sees no write controls).
export interface Session {
  user: User;
  /// Manages users, units, devices, configs and alert rules (in their scope).
  canWrite: boolean;
  /// Reads users and units (reporters and admins).
  canReadDirectory: boolean;
  /// Reads the audit log (global roles).
  canAudit: boolean;
  /// Issues and revokes server keys (global admins).
  canManageServerKeys: boolean;
}

export function sessionFor(user: User): Session {
  const admin = user.role === "ou_admin" || user.role === "global_admin";
  return { user, canWrite: admin, canReadDirectory: user.role !== "user", canAudit: user.role.startsWith("global"),
           canManageServerKeys: user.role === "global_admin" };
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("no session");
  return session;
}

/// Roles a user may give: none above their own.
export const roles = ["user", "ou_reporter", "ou_admin", "global_reporter", "global_admin"];
export function assignableRoles(role: string): string[] {
  const rank = roles.indexOf(role);
  return role === "global_admin" ? roles : roles.slice(0, Math.max(0, rank + 1)).filter((r) => !r.startsWith("global"));
}
