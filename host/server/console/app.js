// Plugboard web console: a client of the public REST API (/api/v1) with
// the session cookie. No framework, no build step, no inline script (the
// page's Content-Security-Policy forbids it). Every value from the server
// is put on the page with textContent, never as HTML. Secrets typed into a
// form are sent once and the form is then removed; the API never returns
// them, so nothing secret is shown back.
'use strict';

const API = '../api/v1';

// Credential fields per auth type (what POST /connections takes in
// `credentials`); `secret` fields are password inputs, `multiline` textareas.
const CREDENTIAL_FIELDS = {
  personal_access_token: [{ name: 'token', label: 'Personal access token', secret: true }],
  client_certificate: [
    { name: 'cert_pem', label: 'Certificate (PEM)', multiline: true },
    { name: 'key_pem', label: 'Private key (PEM)', multiline: true },
  ],
  oauth2_authorization_code: [],
  oauth2_byoa: [
    { name: 'client_id', label: 'Client ID' },
    { name: 'client_secret', label: 'Client secret', secret: true },
  ],
  oauth2_client_credentials: [
    { name: 'client_id', label: 'Client ID' },
    { name: 'client_secret', label: 'Client secret', secret: true },
  ],
  oauth2_password: [
    { name: 'username', label: 'User name' },
    { name: 'password', label: 'Password', secret: true },
    { name: 'client_id', label: 'Client ID (optional)', optional: true },
    { name: 'client_secret', label: 'Client secret (optional)', secret: true, optional: true },
  ],
};

const AUTH_LABELS = {
  oauth2_authorization_code: 'OAuth 2.0 authorization code',
  oauth2_byoa: 'OAuth 2.0 with your own OAuth app (BYOA)',
  oauth2_client_credentials: 'OAuth 2.0 client credentials',
  oauth2_password: 'OAuth 2.0 password',
  personal_access_token: 'Personal access token',
  client_certificate: 'Client certificate',
};

const STATUS_LABELS = { connected: 'Connected', disconnected: 'Disconnected', pending: 'Pending' };

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// One API call. Resolves to the JSON body (null for 204); rejects with an
// ApiError carrying the server's code and message.
async function api(method, path, body) {
  const init = {
    method,
    credentials: 'same-origin',
    // A cross-site page cannot set this header; the server also checks Origin.
    headers: { Accept: 'application/json', 'X-Plugboard-CSRF': '1' },
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, init);
  } catch (_) {
    throw new ApiError(0, 'network', 'The server could not be reached; check that it is running and try again.');
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (!res.ok) {
    const message = (data && data.message) || `The server answered ${res.status} ${res.statusText}.`;
    throw new ApiError(res.status, (data && data.code) || `http_${res.status}`, message, data && data.details);
  }
  return data;
}

// ---- small DOM helpers ----

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

let fieldCount = 0;

// A labelled form field; the label names only the field (not its hint or
// a select's options), and the hint is its description.
function field(label, input, hint) {
  fieldCount += 1;
  input.id = `field-${fieldCount}`;
  const help = hint ? el('span', { class: 'hint', id: `field-${fieldCount}-hint`, text: hint }) : null;
  if (help) input.setAttribute('aria-describedby', help.id);
  return el('div', { class: 'field' }, el('label', { for: input.id, text: label }), input, help);
}

function showNotice(kind, message) {
  const n = document.getElementById('notice');
  n.className = `notice ${kind}`;
  n.textContent = message;
  n.hidden = false;
}

function clearNotice() {
  document.getElementById('notice').hidden = true;
}

function showFormError(form, message) {
  const p = form.querySelector('.form-error');
  p.textContent = message;
  p.hidden = false;
}

// Views re-render before their notice, so what the notice says is on screen.
// Runs an action; a signed-out session goes back to sign-in, any other
// error is shown with the server's message (in `form` when given).
async function run(action, form) {
  try {
    return await action();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      showSignIn(e.message);
      return undefined;
    }
    if (form) showFormError(form, e.message);
    else showNotice('error', e.message);
    return undefined;
  }
}

// ---- sign-in ----

function showSignIn(message) {
  document.getElementById('folders-view').hidden = true;
  document.getElementById('who').hidden = true;
  document.getElementById('sign-out').hidden = true;
  document.getElementById('sign-in-view').hidden = false;
  if (message) showNotice('error', message);
  document.querySelector('#sign-in-form [name=username]').focus();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const pw = form.elements.password;
  const body = {
    username: form.elements.username.value,
    password: pw.value,
  };
  const org = form.elements.organization.value.trim();
  if (org) body.organization = org;
  pw.value = '';
  form.querySelector('.form-error').hidden = true;
  try {
    await api('POST', '/session', body);
  } catch (e) {
    showFormError(form, e.message);
    return;
  }
  clearNotice();
  await showConsole();
}

async function signOut() {
  await run(async () => {
    await api('DELETE', '/session');
    clearNotice();
    showSignIn();
    showNotice('info', 'You are signed out.');
  });
}

// ---- folders and connections ----

let connectorsCache = null;

async function connectors() {
  if (!connectorsCache) connectorsCache = await api('GET', '/connectors');
  return connectorsCache;
}

async function showConsole() {
  const me = await run(() => api('GET', '/me'));
  if (!me) return;
  document.getElementById('sign-in-view').hidden = true;
  const who = document.getElementById('who');
  who.textContent = `Signed in as ${me.name}${me.is_admin ? ' (administrator)' : ''}`;
  who.hidden = false;
  document.getElementById('sign-out').hidden = false;
  document.getElementById('folders-view').hidden = false;
  await renderFolders();
}

async function renderFolders() {
  const data = await run(async () => {
    const [folders, page] = await Promise.all([api('GET', '/folders'), api('GET', '/connections?limit=1000')]);
    return { folders, page };
  });
  if (!data) return;
  const root = document.getElementById('folders');
  root.replaceChildren();
  const template = document.getElementById('folder-template');
  for (const folder of data.folders) {
    const node = template.content.firstElementChild.cloneNode(true);
    node.dataset.folderId = folder.id;
    node.querySelector('.folder-name').textContent = folder.name;
    node.querySelector('.folder-kind').textContent = folder.kind === 'personal' ? 'Personal workspace' : 'Shared folder';
    node.querySelector('.new-connection').addEventListener('click', () => openCreate(node, folder));
    const tbody = node.querySelector('tbody');
    const conns = data.page.items.filter((c) => c.folder_id === folder.id);
    for (const c of conns) tbody.append(connectionRow(c));
    node.querySelector('.empty').hidden = conns.length > 0;
    node.querySelector('table').hidden = conns.length === 0;
    root.append(node);
  }
}

function connectionRow(c) {
  const account = c.account
    ? el('span', {}, c.account.display_name || c.account.id, c.account.email ? el('div', { class: 'hint', text: c.account.email }) : null)
    : el('span', { class: 'hint', text: '—' });
  const status = el('td', { class: 'status-cell' },
    el('span', { class: `status ${c.status}`, text: STATUS_LABELS[c.status] || c.status }),
    c.message ? el('div', { class: 'status-message', text: c.message }) : null,
    c.provider_error ? el('div', { class: 'status-message', text: `Provider: ${c.provider_error}` }) : null);
  const row = el('tr', { class: 'connection', dataset: { connectionId: c.id, name: c.name } },
    el('td', { class: 'name', text: c.name }),
    el('td', { text: c.connector }),
    el('td', {}, account),
    status,
    el('td', { class: 'default', text: c.is_default ? 'Default' : '' }),
    el('td', { text: c.polling_frequency_seconds ? `every ${c.polling_frequency_seconds} s` : 'trigger default' }),
    el('td', { class: 'actions' },
      el('button', { type: 'button', text: 'Check', onclick: () => check(c) }),
      el('button', { type: 'button', text: 'Reconnect', onclick: () => openReconnect(row, c) }),
      el('button', { type: 'button', text: 'Edit', onclick: () => openEdit(row, c) }),
      c.is_default ? null : el('button', { type: 'button', text: 'Set default', onclick: () => setDefault(c) }),
      el('button', { type: 'button', class: 'danger', text: 'Delete', onclick: () => openDelete(row, c) })));
  return row;
}

// A panel in a table row right under the connection's row (one at a time).
function rowPanel(row, ...content) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains('row-panel')) next.remove();
  const panel = el('tr', { class: 'row-panel' }, el('td', { colspan: '7' }, ...content));
  row.after(panel);
  return panel;
}

function panelForm(onsubmit, ...content) {
  const form = el('form', { class: 'panel', onsubmit }, ...content);
  form.append(el('p', { class: 'form-error', role: 'alert', hidden: true }));
  return form;
}

function cancelButton(panel) {
  return el('button', { type: 'button', text: 'Cancel', onclick: () => panel.remove() });
}

async function check(c) {
  const result = await run(() => api('POST', `/connections/${c.id}/check`));
  if (!result) return;
  await renderFolders();
  showNotice(result.ok ? 'info' : 'error', `${c.name}: ${result.message}`);
}

async function setDefault(c) {
  const ok = await run(() => api('POST', `/connections/${c.id}/default`));
  if (ok === undefined) return;
  await renderFolders();
  showNotice('info', `${c.name} is now the default ${c.connector} connection in its folder.`);
}

function openEdit(row, c) {
  const name = el('input', { name: 'name', value: c.name, required: true });
  const polling = el('input', { name: 'polling', type: 'number', min: '1', value: c.polling_frequency_seconds || '' });
  let panel;
  const form = panelForm(async (event) => {
    event.preventDefault();
    const body = {};
    if (name.value !== c.name) body.name = name.value;
    const p = polling.value.trim();
    const before = c.polling_frequency_seconds || null;
    const after = p === '' ? null : Number(p);
    if (after !== before) body.polling_frequency_seconds = after;
    if (Object.keys(body).length === 0) {
      panel.remove();
      return;
    }
    const updated = await run(() => api('PATCH', `/connections/${c.id}`, body), form);
    if (!updated) return;
    await renderFolders();
    showNotice('info', `Saved ${updated.name}.`);
  },
  el('p', { class: 'hint', text: `Connector ${c.connector}, auth type ${AUTH_LABELS[c.auth_kind] || c.auth_kind} and account cannot change.` }),
  field('Name', name),
  field('Polling frequency (seconds)', polling, 'Empty: each trigger\'s default.'),
  el('div', {}, el('button', { type: 'submit', text: 'Save' })));
  panel = rowPanel(row, form);
  form.append(cancelButton(panel));
  name.focus();
}

function credentialInputs(kind) {
  return (CREDENTIAL_FIELDS[kind] || []).map((f) => {
    const input = f.multiline
      ? el('textarea', { name: `credential:${f.name}`, rows: '4', required: !f.optional })
      : el('input', { name: `credential:${f.name}`, type: f.secret ? 'password' : 'text', required: !f.optional, autocomplete: 'off' });
    return field(f.label, input);
  });
}

function collect(form, prefix) {
  const out = {};
  for (const input of form.querySelectorAll(`[name^="${prefix}"]`)) {
    if (input.value !== '') out[input.name.slice(prefix.length)] = input.value;
  }
  return out;
}

// What to do with a created or reconnected connection: follow the OAuth
// authorize URL when there is one, else say how it went.
function afterConnect(result, verb) {
  for (const w of result.warnings || []) showNotice('error', w.message);
  if (result.authorize_url) {
    showNotice('info', 'Continue at the provider to grant access…');
    window.location.assign(result.authorize_url);
    return;
  }
  const c = result.connection;
  if (!(result.warnings || []).length) {
    showNotice(c.status === 'connected' ? 'info' : 'error',
      `${c.name} ${verb}: ${STATUS_LABELS[c.status] || c.status}${c.message ? ` — ${c.message}` : ''}.`);
  }
}

function openReconnect(row, c) {
  const isOauth = c.auth_kind.startsWith('oauth2_') && (CREDENTIAL_FIELDS[c.auth_kind] || []).length === 0;
  let panel;
  const form = panelForm(async (event) => {
    event.preventDefault();
    const body = { credentials: collect(form, 'credential:') };
    const result = await run(() => api('POST', `/connections/${c.id}/reconnect`, body), form);
    if (!result) return;
    await renderFolders();
    afterConnect(result, 'reconnected');
  },
  el('p', { class: 'hint', text: isOauth
    ? 'You will be sent to the provider to grant access again.'
    : 'Give a new credential; if the connector refuses it, nothing changes.' }),
  ...credentialInputs(c.auth_kind),
  el('div', {}, el('button', { type: 'submit', text: 'Reconnect' })));
  panel = rowPanel(row, form);
  form.append(cancelButton(panel));
}

function openDelete(row, c) {
  let panel;
  const form = panelForm(async (event) => {
    event.preventDefault();
    await remove(false);
  },
  el('p', { text: `Delete ${c.name}? Anything using it stops working.` }),
  el('div', {}, el('button', { type: 'submit', class: 'danger', text: 'Confirm delete' })));

  async function remove(force) {
    try {
      await api('DELETE', `/connections/${c.id}${force ? '?force=true' : ''}`);
    } catch (e) {
      if (e.status === 401) {
        showSignIn(e.message);
        return;
      }
      showFormError(form, e.message);
      if (e.code === 'connection_referenced') showReferences(e.details && e.details.references);
      return;
    }
    await renderFolders();
    showNotice('info', `Deleted ${c.name}.`);
  }

  function showReferences(refs) {
    const list = el('ul', { class: 'references' },
      ...(refs || []).map((r) => el('li', { text: `${r.kind} “${r.name}” (${r.id})` })));
    form.append(list, el('div', {}, el('button', {
      type: 'button', class: 'danger', text: 'Delete anyway', onclick: () => remove(true),
    })));
  }

  panel = rowPanel(row, form);
  form.append(cancelButton(panel));
}

async function openCreate(folderNode, folder) {
  const slot = folderNode.querySelector('.create-slot');
  const list = await run(() => connectors());
  if (!list) return;
  const connectorSelect = el('select', { name: 'connector', required: true },
    el('option', { value: '', text: 'Choose a connector…' }),
    ...list.map((c) => el('option', { value: c.id, text: `${c.name} (${c.id})` })));
  const details = el('div', { class: 'panel' });
  const form = el('form', { class: 'panel card', onsubmit: (e) => submitCreate(e, form, folder) },
    el('h3', { text: `New connection in ${folder.name}` }),
    field('Connector', connectorSelect),
    details);
  form.append(el('p', { class: 'form-error', role: 'alert', hidden: true }),
    el('div', {},
      el('button', { type: 'submit', text: 'Create' }), ' ',
      el('button', { type: 'button', text: 'Cancel', onclick: () => slot.replaceChildren() })));
  connectorSelect.addEventListener('change', () => run(() => fillConnector(details, connectorSelect.value), form));
  slot.replaceChildren(form);
  connectorSelect.focus();
}

// The fields of one connector: auth type (no chooser when it has only
// one), its manifest's config fields, the auth type's credential fields.
async function fillConnector(details, id) {
  details.replaceChildren();
  if (!id) return;
  const connector = await api('GET', `/connectors/${encodeURIComponent(id)}`);
  const kinds = connector.auth_kinds;
  const authFields = el('div', { class: 'panel' });
  const showAuth = (kind) => authFields.replaceChildren(...credentialInputs(kind));
  details.append(field('Name', el('input', { name: 'name', placeholder: connector.name }), 'Optional.'));
  if (kinds.length > 1) {
    const select = el('select', { name: 'auth_kind' },
      ...kinds.map((k) => el('option', { value: k, text: AUTH_LABELS[k] || k })));
    select.addEventListener('change', () => showAuth(select.value));
    details.append(field('Auth type', select));
  } else if (kinds.length === 1) {
    details.append(el('p', { class: 'hint', text: `Auth type: ${AUTH_LABELS[kinds[0]] || kinds[0]}` }));
  }
  for (const f of connector.manifest.config_fields || []) {
    const input = el('input', {
      name: `config:${f.name}`,
      type: f.kind === 'secret' ? 'password' : (f.kind === 'url' ? 'url' : 'text'),
      required: f.required,
      value: f.default_value,
      autocomplete: 'off',
    });
    details.append(field(f.label, input, f.description));
  }
  details.append(authFields);
  details.append(field('Polling frequency (seconds)', el('input', { name: 'polling', type: 'number', min: '1' }), 'Optional; empty: each trigger\'s default.'));
  showAuth(kinds[0]);
}

async function submitCreate(event, form, folder) {
  event.preventDefault();
  form.querySelector('.form-error').hidden = true;
  const e = form.elements;
  const body = {
    connector: e.connector.value,
    folder_id: folder.id,
    config: collect(form, 'config:'),
    credentials: collect(form, 'credential:'),
  };
  if (e.auth_kind) body.auth_kind = e.auth_kind.value;
  if (e.name && e.name.value.trim()) body.name = e.name.value.trim();
  if (e.polling && e.polling.value.trim()) body.polling_frequency_seconds = Number(e.polling.value);
  const result = await run(() => api('POST', '/connections', body), form);
  if (!result) return;
  form.remove();
  if (!result.authorize_url) await renderFolders();
  afterConnect(result, 'created');
}

// ---- start ----

document.getElementById('sign-in-form').addEventListener('submit', signIn);
document.getElementById('sign-out').addEventListener('click', signOut);
(async () => {
  try {
    await api('GET', '/me');
  } catch (e) {
    if (e.status === 401) showSignIn();
    else showNotice('error', e.message);
    return;
  }
  await showConsole();
})();
