// The console at /: films (search, pages, live), printers (status; admins may set it), recent associations.
import { api, el, getSession, logout, personName, reportError, showMessage, timeElement, toLogin } from './api.js';

const PAGE_SIZE = 50;
const STATUSES = ['NORMAL', 'WARNING', 'FAILURE'];
const VERDICTS = ['pass', 'warnings', 'errors'];

const $ = (id) => document.getElementById(id);
const films = $('films');
const printerRows = $('printers').tBodies[0];
const cards = new Map(); // film id -> card element
let total = 0;
let generation = 0; // a newer query makes older answers stale
let isAdmin = false;
let firstPagePending = false; // a film event now may or may not be in the page on its way

// ---- films ----

function filmQuery() {
  const query = new URLSearchParams();
  for (const [name, id] of [['q', 'search'], ['printer', 'printer-filter'], ['from', 'from'], ['to', 'to']]) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  if ($('review-filter').checked) query.set('review', 'true');
  return query;
}

function filmCard(film) {
  const href = film.page_url ?? `/films/${encodeURIComponent(film.id)}`;
  const card = el('a', { className: 'film', href, dataset: { id: film.id } },
    el('img', { src: film.thumbnail_url, loading: 'lazy', alt: '' }),
    el('span', { className: 'patient-name', textContent: personName(film.patient_name) || '(no patient name)' }),
    el('span', { className: 'patient-id', textContent: film.patient_id ?? '' }),
    el('span', { className: 'where', textContent: `${film.printer} ← ${film.calling_ae_title}` }),
    timeElement(film.rendered_at));
  if (film.needs_review) {
    // Unconfirmed or unknown identity: held from the PACS until someone assigns it (the film page).
    card.classList.add('review');
    card.append(el('span', { className: 'badge', textContent: film.identity_source ? `${film.identity_source}?` : 'who?',
      title: film.identity_review || 'identity unknown: open the film to assign the patient' }));
  }
  return card;
}

function onFilmChanged(film) {
  const old = cards.get(film.id);
  if (!old) return;
  const card = filmCard(film);
  old.replaceWith(card);
  cards.set(film.id, card);
}

function showCount() {
  $('film-count').textContent = `${total} ${total === 1 ? 'film' : 'films'}`;
  $('more').hidden = cards.size >= total;
}

function addFilms(list, { atTop = false } = {}) {
  const fresh = list.filter((film) => !cards.has(film.id)).map((film) => {
    const card = filmCard(film);
    cards.set(film.id, card);
    return card;
  });
  if (atTop) films.prepend(...fresh);
  else films.append(...fresh);
  return fresh.length;
}

/** Loads the next page, or the first one (emptying the grid) when `reset`. */
async function loadFilms(reset) {
  const mine = reset ? ++generation : generation;
  if (reset) firstPagePending = true;
  const query = filmQuery();
  query.set('limit', PAGE_SIZE);
  // Films that arrived live are at the top of the same ordering, so the cards shown are the offset.
  query.set('offset', reset ? 0 : cards.size);
  try {
    const page = await api(`/api/films?${query}`);
    if (mine !== generation) return;
    if (reset) {
      films.replaceChildren();
      cards.clear();
    }
    addFilms(page.films);
    total = page.total;
    showCount();
  } catch (error) {
    reportError(error);
  } finally {
    if (mine === generation) firstPagePending = false;
  }
}

let debounce;
function searchSoon() {
  clearTimeout(debounce);
  debounce = setTimeout(() => loadFilms(true), 300);
}

// ---- printers ----

function statusClass(status) {
  return STATUSES.includes(status) ? status.toLowerCase() : 'unknown';
}

function printerRow(printer) {
  const row = el('tr', { dataset: { aeTitle: printer.ae_title } },
    el('td', {}, el('span', { className: 'ae-title' }), el('span', { className: 'name' })),
    el('td', {}, el('span', { className: 'status' }), el('span', { className: 'status-text' })),
    el('td', { className: 'queue' }));
  if (isAdmin) {
    const buttons = STATUSES.map((status) =>
      el('button', { type: 'button', className: statusClass(status), dataset: { status }, textContent: status }));
    const info = el('input', { className: 'status-info', placeholder: 'Status info, e.g. FILM JAM' });
    info.setAttribute('list', 'status-info-terms');
    row.append(el('td', { className: 'controls' }, el('div', {}, ...buttons), info));
  }
  return row;
}

const printerRowOf = (aeTitle) => [...printerRows.rows].find((tr) => tr.dataset.aeTitle === aeTitle);

function showPrinter(printer) {
  let row = printerRowOf(printer.ae_title);
  if (!row) {
    row = printerRow(printer);
    printerRows.append(row);
    $('printer-filter').append(el('option', { value: printer.ae_title, textContent: printer.ae_title }));
  }
  row.querySelector('.ae-title').textContent = printer.ae_title;
  row.querySelector('.name').textContent = printer.name;
  const status = row.querySelector('.status');
  status.textContent = printer.printer_status;
  status.className = `status ${statusClass(printer.printer_status)}`;
  row.querySelector('.status-text').textContent = printer.printer_status_info;
  const queue = row.querySelector('.queue');
  queue.textContent = printer.queue_depth;
  queue.title = `${printer.queue_depth} print job(s) waiting or printing`;
  queue.classList.toggle('busy', printer.queue_depth > 0);
}

async function loadPrinters() {
  const { printers } = await api('/api/printers');
  for (const printer of printers) showPrinter(printer);
}

async function setStatus(button) {
  const row = button.closest('tr');
  const info = row.querySelector('input.status-info');
  const status = button.dataset.status;
  const defaultInfo = status === 'NORMAL' ? 'NORMAL' : 'UNKNOWN';
  try {
    const printer = await api(`/api/printers/${encodeURIComponent(row.dataset.aeTitle)}/status`, {
      method: 'PUT',
      // Printer Status Info is a PS3.3 C.13.9.1 Defined Term: NORMAL goes with NORMAL only; the rest
      // default to UNKNOWN, as printscp's own `printer set` does.
      body: { printer_status: status, printer_status_info: info.value.trim().toUpperCase() || defaultInfo },
    });
    showPrinter(printer);
    info.value = '';
    showMessage('');
  } catch (error) {
    reportError(error);
  }
}

// The queue depth is the printer's to count: a job event just says "ask again".
async function refreshPrinter(aeTitle) {
  try {
    showPrinter(await api(`/api/printers/${encodeURIComponent(aeTitle)}`));
  } catch (error) {
    reportError(error);
  }
}

// ---- transcripts ----

function transcriptRow(t) {
  const verdict = el('span', { className: 'verdict', textContent: t.verdict });
  if (VERDICTS.includes(t.verdict)) verdict.classList.add(t.verdict);
  return el('tr', { dataset: { associationId: t.association_id } },
    el('td', {}, timeElement(t.started, { short: true })),
    el('td', { textContent: `${t.calling_ae_title} → ${t.called_ae_title}` }),
    el('td', { textContent: t.outcome }),
    el('td', {}, verdict),
    el('td', { className: 'number', textContent: t.messages }),
    el('td', { className: 'number', textContent: t.films }),
    el('td', {}, el('a', { className: 'report', href: t.report_url, target: '_blank', rel: 'noopener' }, 'report')));
}

async function loadTranscripts() {
  try {
    const { transcripts } = await api('/api/transcripts?limit=20');
    $('transcripts').tBodies[0].replaceChildren(...transcripts.map(transcriptRow));
  } catch (error) {
    reportError(error);
  }
}

// A job's films arrive together: one transcript reload for the lot.
let transcriptTimer;
function transcriptsSoon() {
  clearTimeout(transcriptTimer);
  transcriptTimer = setTimeout(loadTranscripts, 1000);
}

// ---- live ----

const filtering = () => filmQuery().toString() !== '';

function onFilm(film) {
  if (filtering() || firstPagePending) {
    // The server knows what the filter matches; asking again beats re-implementing it here.
    searchSoon();
  } else if (addFilms([film], { atTop: true })) {
    total += 1;
    showCount();
  }
  transcriptsSoon();
}

function onFilmDeleted({ id }) {
  if (filtering() || firstPagePending) return searchSoon();
  cards.get(id)?.remove();
  cards.delete(id);
  total = Math.max(0, total - 1);
  showCount();
}

let streamOpened = 0;

function connect() {
  const live = $('live');
  const events = new EventSource('/api/events');
  const on = (name, handler) => events.addEventListener(name, (event) => handler(JSON.parse(event.data)));
  on('film', onFilm);
  on('film-deleted', onFilmDeleted);
  on('film-changed', onFilmChanged);
  on('printer', showPrinter);
  on('print-job', (job) => printerRowOf(job.printer) && refreshPrinter(job.printer));
  events.onopen = () => {
    live.classList.add('connected');
    live.title = 'Live updates: connected';
    // Whatever happened while the stream was down was missed: catch up.
    if (streamOpened++) {
      loadFilms(true);
      loadPrinters().catch(reportError);
      loadTranscripts();
    }
  };
  events.onerror = () => {
    live.classList.remove('connected');
    live.title = 'Live updates: disconnected';
    // EventSource retries by itself, except after an HTTP error (a 401 once the session expired).
    if (events.readyState === EventSource.CLOSED) {
      fetch('/api/session', { credentials: 'same-origin' }).then((r) => {
        if (r.status === 401) toLogin();
        else setTimeout(connect, 5000);
      }, () => setTimeout(connect, 5000));
    }
  };
}

// ---- start ----

async function start() {
  const session = await getSession();
  isAdmin = session.role === 'admin';
  $('user').textContent = session.user;
  $('role').textContent = session.role;
  if (isAdmin) $('printers').tHead.rows[0].append(el('th', { textContent: 'Set status' }));

  $('logout').addEventListener('click', logout);
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(debounce);
    loadFilms(true);
  });
  $('search').addEventListener('input', searchSoon);
  for (const id of ['printer-filter', 'from', 'to', 'review-filter']) {
    $(id).addEventListener('change', () => loadFilms(true));
  }
  $('more').addEventListener('click', () => loadFilms(false));
  $('message').addEventListener('click', () => showMessage(''));
  printerRows.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-status]');
    if (button) setStatus(button);
  });

  connect(); // before the first page, so no film falls between the page and the stream
  await Promise.all([loadPrinters(), loadFilms(true), loadTranscripts()]);
}

start().catch(reportError);
