// One film at /films/<id>: the PNG, a link to the PDF, what the archive knows about it; admins may delete it.
import { api, el, getSession, logout, personName, reportError, timeElement } from './api.js';

const $ = (id) => document.getElementById(id);
const filmId = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop());

function row(label, value) {
  const cell = value instanceof Node ? el('td', {}, value) : el('td', { textContent: value ?? '' });
  return el('tr', {}, el('th', { scope: 'row', textContent: label }), cell);
}

function showFilm(film, isAdmin) {
  const name = personName(film.patient_name);
  $('film-title').textContent = name || '(no patient name)';
  document.title = `${name || film.id} · printscp`;

  const image = $('film-image');
  image.src = film.png_url;
  image.addEventListener('click', () => image.classList.toggle('fit'));
  $('pdf-link').href = film.pdf_url;
  $('pdf-link').hidden = false;

  const association = film.association_id && film.transcript_url
    ? el('a', { href: film.transcript_url, target: '_blank', rel: 'noopener', textContent: film.association_id })
    : film.association_id;
  $('metadata').tBodies[0].replaceChildren(
    row('Patient name', name),
    row('Patient ID', film.patient_id),
    row('Birth date', film.patient_birth_date),
    row('Sex', film.patient_sex),
    row('Accession number', film.accession_number),
    row('Identity', identityText(film)),
    row('Study Instance UID', film.study_instance_uid),
    row('Film session label', film.film_session_label),
    row('Printer', film.printer),
    row('Called AE title', film.called_ae_title),
    row('Calling AE title', film.calling_ae_title),
    row('Film size', film.film_size_id),
    row('Image display format', film.image_display_format),
    row('Copies', film.number_of_copies),
    row('Requested at', timeElement(film.requested_at)),
    row('Rendered at', timeElement(film.rendered_at)),
    row('Print job UID', film.job_uid),
    row('Film number', film.film_number),
    row('Association', association),
  );

  if (isAdmin) {
    const button = $('delete');
    button.hidden = false;
    button.addEventListener('click', () => deleteJob(film));
    showAssign(film);
  }
}

function identityText(film) {
  const source = film.identity_source ?? 'unknown';
  if (film.identity_confirmed) return `${source}, confirmed`;
  return `${source}, needs review${film.identity_review ? `: ${film.identity_review}` : ''}`;
}

function showAssign(film) {
  const form = $('assign');
  form.hidden = false;
  $('assign-name').value = film.patient_name ?? '';
  $('assign-id').value = film.patient_id ?? '';
  $('assign-birth').value = film.patient_birth_date ?? '';
  $('assign-sex').value = film.patient_sex ?? '';
  $('assign-accession').value = film.accession_number ?? '';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api(`/api/films/${encodeURIComponent(film.id)}/identity`, {
        method: 'PUT',
        body: {
          patient_name: $('assign-name').value.trim(),
          patient_id: $('assign-id').value.trim(),
          patient_birth_date: $('assign-birth').value.trim(),
          patient_sex: $('assign-sex').value,
          accession_number: $('assign-accession').value.trim(),
        },
      });
      location.reload(); // the film as the archive has it now
    } catch (error) {
      reportError(error);
    }
  });
}

async function deleteJob(film) {
  // The archive keeps a print job whole: deleting one film deletes every film of its job.
  if (!confirm(`Delete print job ${film.job_uid} and all its films?`)) return;
  try {
    await api(`/api/films/${encodeURIComponent(film.id)}`, { method: 'DELETE' });
    location = '/';
  } catch (error) {
    reportError(error);
  }
}

async function start() {
  $('logout').addEventListener('click', logout);
  const session = await getSession();
  $('user').textContent = session.user;
  $('role').textContent = session.role;
  showFilm(await api(`/api/films/${encodeURIComponent(filmId)}`), session.role === 'admin');
}

start().catch(reportError);
