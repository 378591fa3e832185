/** The same server URL with another database (and optionally other credentials). */
export function withDatabase(url: string, database: string, role?: { user: string; password: string }): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  if (role) {
    parsed.username = encodeURIComponent(role.user);
    parsed.password = encodeURIComponent(role.password);
  }
  return parsed.toString();
}
