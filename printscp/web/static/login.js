// Separate from login.html so the pages need no inline script (a strict Content-Security-Policy can stay on).
const query = new URLSearchParams(location.search);
const next = query.get('next');
// The server checks `next` too; this only avoids sending a link that leaves the site.
if (next && /^\/(?![/\\])/.test(next)) document.getElementById('next').value = next;
document.getElementById('login-failed').hidden = query.get('failed') !== '1';
