// Shared by console.js and film.js: the fetch wrapper, the session, and DOM helpers.
// Everything that comes from the API is put on the page as text (textContent / attributes), never as HTML:
// patient names and AE titles are whatever a modality sent.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function toLogin() {
  location = '/login?next=' + encodeURIComponent(location.pathname + location.search);
}

let session = null;

/** {user, role, csrf_token} of the signed-in user, fetched once per page. */
export async function getSession() {
  session ??= api('/api/session');
  return session;
}

/** fetch() a JSON API: adds the CSRF header to state changes, sends 401 to the login page, throws ApiError. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = (await getSession()).csrf_token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, 'Not signed in');
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const json = await response.json();
      // FastAPI's validation errors carry a list, not a string.
      if (json.detail) detail = typeof json.detail === 'string' ? json.detail : JSON.stringify(json.detail);
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, detail);
  }
  return response.status === 204 ? null : response.json();
}

export async function logout() {
  try {
    await api('/logout', { method: 'POST' });
  } finally {
    location = '/login';
  }
}

/** document.createElement with properties and children (strings become text nodes). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else node[key] = value;
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** DICOM PN (PS3.5 6.2) as people read it: "Doe^Jane^M" -> "Doe, Jane M", each "=" group alike. */
export function personName(pn) {
  if (!pn) return '';
  return pn.split('=').map((group) => {
    const [family, ...rest] = group.split('^');
    const given = rest.filter(Boolean).join(' ');
    return family && given ? `${family}, ${given}` : family || given;
  }).join('=');
}

/** An ISO 8601 instant in the browser's time zone, to the second; `short` leaves out today's date. */
export function localTime(iso, { short = false } = {}) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const clock = { hour: '2-digit', minute: '2-digit', second: '2-digit' };
  if (short && date.toDateString() === new Date().toDateString()) return date.toLocaleTimeString(undefined, clock);
  return date.toLocaleString(undefined, { year: 'numeric', month: '2-digit', day: '2-digit', ...clock });
}

export function timeElement(iso, options) {
  return el('time', { dateTime: iso ?? '', title: localTime(iso), textContent: localTime(iso, options) });
}

/** Error text in #message until the next one or a click. */
export function showMessage(text) {
  const box = document.getElementById('message');
  box.textContent = text;
  box.hidden = !text;
}

export function reportError(error) {
  if (error instanceof ApiError && error.status === 401) return; // already on the way to /login
  showMessage(error.message || String(error));
}
