/**
 * URLs that are printed, planned or stored must not carry credentials: a user name or password, or a query
 * (where SAS signatures and app tokens hide). One check for every such URL, and one safe way to name one.
 */

/** True when the URL has a user name, password, query or fragment. */
export function carriesCredentials(url: URL): boolean {
  return url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '';
}

/** `https://host/path`: what an error message may say about a URL whatever it carries. */
export function safeUrl(value: string | URL): string {
  try {
    const url = typeof value === 'string' ? new URL(value) : value;
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '(not a URL)';
  }
}
