// lookalike web page: browse the catalogue, search by photo, walk through
// "more like this". Plain DOM, no framework, no network beyond this server.
// Labels come from a CSV: they are only ever set as text, never as HTML.
'use strict';

const FACET_ORDER = ['gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season', 'usage', 'year'];
const PAGE_SIZE = 24;
const $ = (id) => document.getElementById(id);

const state = {
  filters: {},    // field -> value ('' = any)
  q: '',          // name filter (browse)
  page: 0,        // browse page
  file: null,     // the query photo (kept in memory only)
  previewUrl: null,
  crop: null,     // the region searched with, in the photo's pixels: {x, y, width, height}
  imageSize: null, // the photo's size as the server decoded it: {width, height}
  seq: 0,         // drops answers of superseded requests
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function nameOf(p) {
  return (p.labels && p.labels.productDisplayName) || p.id;
}

function imageUrl(id) {
  return '/images/' + encodeURIComponent(id);
}

function productHash(id) {
  return '#/product/' + encodeURIComponent(id);
}

function showMessage(text, kind) {
  const m = $('message');
  m.textContent = text || '';
  m.hidden = !text;
  m.className = 'message' + (kind === 'info' ? ' info' : '');
}

async function api(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (e) {
    throw new Error('Cannot reach the server. Is `lookalike serve` still running?');
  }
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (!response.ok) {
    const msg = body && body.error && body.error.message;
    if (response.status === 408) throw new Error('The server took too long to answer. Try again.');
    throw new Error(msg || `The server answered ${response.status} ${response.statusText}.`);
  }
  return body;
}

function searchParams(extra) {
  const p = new URLSearchParams(extra || {});
  for (const [field, value] of Object.entries(state.filters)) {
    if (value) p.append('filter', `${field}=${value}`);
  }
  return p;
}

function similarityParams() {
  return searchParams({ k: $('k').value, metric: $('metric').value });
}

function card(product, hit, metric) {
  const li = el('li', 'card');
  const a = el('a');
  a.href = productHash(product.id);
  const img = el('img');
  img.src = imageUrl(product.id);
  img.alt = nameOf(product);
  img.loading = 'lazy';
  img.width = 150;
  img.height = 200;
  const body = el('span', 'body');
  body.append(el('span', 'name', nameOf(product)));
  const l = product.labels || {};
  const meta = [l.articleType, l.baseColour, l.gender].filter(Boolean).join(' · ');
  if (meta) body.append(el('span', 'meta', meta));
  if (hit) {
    const word = metric === 'euclidean' ? 'distance' : 'similarity';
    const s = el('span', 'score', `${word} ${hit.score.toFixed(3)}`);
    s.title = `shape ${hit.shape.toFixed(3)} + colour ${hit.colour.toFixed(3)}`
      + (hit.label ? ` + labels ${hit.label.toFixed(3)}` : '');
    body.append(s);
  }
  a.append(img, body);
  li.append(a);
  return li;
}

function showGrid(items, metric) {
  const grid = $('grid');
  grid.replaceChildren(...items.map((it) => (it.hit ? card(it.hit, it.hit, metric) : card(it.product))));
}

function setView(title, status) {
  $('title').textContent = title;
  $('status').textContent = status || '';
}

function clearResults() {
  $('grid').replaceChildren();
  $('pager').replaceChildren();
}

// "Looks like: Navy Blue Shirts, 93%", from the index's trained head, with a
// one-click filter on what was recognised.
function showRecognised(data) {
  const box = $('recognised');
  const r = data && data.recognised;
  const top = (f) => r && r[f] && r[f][0];
  const type = top('articleType');
  if (!type) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const colour = top('baseColour');
  const gender = top('gender');
  const parts = [colour && colour.label, type.label].filter(Boolean).join(' ');
  const conf = Math.round(100 * type.confidence * (colour ? colour.confidence : 1));
  const text = el('span', '', `Looks like: ${parts}, ${conf}%` + (gender ? ` (${gender.label})` : ''));
  const button = el('button', '', 'Show only these');
  button.type = 'button';
  button.title = 'Filter the results by the recognised type and colour';
  button.onclick = () => {
    state.filters.articleType = type.label;
    if (colour) state.filters.baseColour = colour.label;
    for (const s of document.querySelectorAll('#facet-selects select')) {
      s.value = state.filters[s.dataset.field] || '';
    }
    render();
  };
  box.replaceChildren(text, button);
  box.hidden = false;
}

function resultStatus(data) {
  const n = data.hits.length;
  if (n === 0) return 'No products match. Try removing a filter.';
  return `${n} result${n === 1 ? '' : 's'} in ${data.took_ms.toFixed(1)} ms`;
}

// ---- views ---------------------------------------------------------------

async function browseView(seq) {
  $('product').hidden = true;
  const params = searchParams({ offset: state.page * PAGE_SIZE, limit: PAGE_SIZE });
  if (state.q) params.set('q', state.q);
  setView(state.q ? `Products named “${state.q}”` : 'Catalogue', 'Loading…');
  const data = await api('/api/products?' + params);
  if (seq !== state.seq) return;
  showGrid(data.products.map((p) => ({ product: p })));
  if (data.total === 0) {
    setView($('title').textContent, 'No products match. Try removing a filter.');
  } else {
    const from = data.offset + 1;
    const to = data.offset + data.products.length;
    setView($('title').textContent, `Showing ${from}–${to} of ${data.total.toLocaleString('en')} products`);
  }
  pager(data.total);
}

function pager(total) {
  const nav = $('pager');
  nav.replaceChildren();
  const pages = Math.ceil(total / PAGE_SIZE);
  if (pages <= 1) return;
  const prev = el('button', '', '← Previous');
  prev.disabled = state.page === 0;
  prev.onclick = () => { state.page -= 1; render(); };
  const next = el('button', '', 'Next →');
  next.disabled = state.page >= pages - 1;
  next.onclick = () => { state.page += 1; render(); };
  nav.append(prev, el('span', '', `Page ${state.page + 1} of ${pages}`), next);
}

async function searchView(seq) {
  $('product').hidden = true;
  $('pager').replaceChildren();
  if (!state.file) {
    location.hash = '#/';
    return;
  }
  setView('Similar to your photo', 'Searching…');
  const form = new FormData();
  form.append('image', state.file);
  const metric = $('metric').value;
  const c = state.crop;
  const crop = c ? `&crop=${c.x},${c.y},${c.width},${c.height}` : '';
  try {
    const data = await api('/api/search?' + similarityParams() + crop, { method: 'POST', body: form });
    if (seq !== state.seq) return;
    if (data.query) {
      state.imageSize = data.query.image;
      state.crop = data.query.region;
      drawCrop();
    }
    showGrid(data.hits.map((h) => ({ hit: h })), metric);
    setView('Similar to your photo', resultStatus(data));
    showRecognised(data);
  } catch (e) {
    if (seq !== state.seq) return;
    clearResults();
    setView('Similar to your photo', '');
    throw e;
  }
}

async function productView(seq, id) {
  const section = $('product');
  setView('More like this', 'Searching…');
  $('pager').replaceChildren();
  const metric = $('metric').value;
  const [product, similar] = await Promise.all([
    api('/api/products/' + encodeURIComponent(id)),
    api('/api/products/' + encodeURIComponent(id) + '/similar?' + similarityParams()),
  ]);
  if (seq !== state.seq) return;
  const img = el('img');
  img.src = imageUrl(product.id);
  img.alt = nameOf(product);
  const info = el('div');
  info.append(el('h1', '', nameOf(product)));
  const dl = el('dl');
  dl.append(el('dt', '', 'id'), el('dd', '', product.id));
  for (const [k, v] of Object.entries(product.labels || {})) {
    if (k === 'productDisplayName') continue;
    dl.append(el('dt', '', k), el('dd', '', v));
  }
  info.append(dl);
  section.replaceChildren(img, info);
  section.hidden = false;
  showGrid(similar.hits.map((h) => ({ hit: h })), metric);
  setView('More like this', resultStatus(similar));
  showRecognised(similar);
}

async function render() {
  const seq = ++state.seq;
  showMessage('');
  showRecognised(null);
  const hash = location.hash || '#/';
  try {
    if (hash.startsWith('#/product/')) {
      await productView(seq, decodeURIComponent(hash.slice('#/product/'.length)));
    } else if (hash === '#/search') {
      await searchView(seq);
    } else {
      await browseView(seq);
    }
  } catch (e) {
    if (seq !== state.seq) return;
    if (!hash.startsWith('#/search')) {
      clearResults();
      $('product').hidden = true;
      setView('Something went wrong', '');
    }
    showMessage(e.message);
  }
}

// ---- query photo -----------------------------------------------------------

function useFile(file) {
  if (!file) return;
  state.file = file;
  state.crop = null;
  state.imageSize = null;
  drawCrop();
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  const preview = $('preview');
  if (file.type && file.type.startsWith('image/')) {
    state.previewUrl = URL.createObjectURL(file);
    preview.src = state.previewUrl;
    preview.alt = `Your query photo: ${file.name || 'pasted image'}`;
    $('crop-frame').hidden = false;
    // The browser could not show it either: the server will say why.
    preview.onerror = () => { $('crop-frame').hidden = true; };
  } else {
    state.previewUrl = null;
    $('crop-frame').hidden = true;
  }
  if (location.hash === '#/search') render();
  else location.hash = '#/search';
}

// ---- the product box: where in the photo the product is --------------------

// Draws the box of state.crop over the preview, in percent of the image so
// that it follows the preview's size.
function drawCrop() {
  const box = $('crop-box');
  const c = state.crop;
  const size = state.imageSize;
  if (!c || !size || !size.width || !size.height) {
    box.hidden = true;
    $('crop-hint').hidden = true;
    return;
  }
  box.style.left = `${(100 * c.x) / size.width}%`;
  box.style.top = `${(100 * c.y) / size.height}%`;
  box.style.width = `${(100 * c.width) / size.width}%`;
  box.style.height = `${(100 * c.height) / size.height}%`;
  box.hidden = false;
  $('crop-hint').hidden = false;
}

// The box as a region of the photo, clamped inside it, at least 8 pixels.
function clampCrop(c) {
  const size = state.imageSize;
  const min = Math.min(8, size.width, size.height);
  const width = Math.round(Math.min(Math.max(c.width, min), size.width));
  const height = Math.round(Math.min(Math.max(c.height, min), size.height));
  const x = Math.round(Math.min(Math.max(c.x, 0), size.width - width));
  const y = Math.round(Math.min(Math.max(c.y, 0), size.height - height));
  return { x, y, width, height };
}

// Searches again with the box where the shopper left it.
function cropChanged() {
  if (location.hash === '#/search') render();
}

function setupCrop() {
  const box = $('crop-box');
  const preview = $('preview');
  let drag = null;
  box.addEventListener('pointerdown', (e) => {
    if (!state.crop || !state.imageSize) return;
    e.preventDefault();
    box.setPointerCapture(e.pointerId);
    const scale = state.imageSize.width / preview.getBoundingClientRect().width;
    drag = {
      resize: e.target.classList.contains('crop-handle'),
      startX: e.clientX,
      startY: e.clientY,
      start: { ...state.crop },
      scale,
      moved: false,
    };
  });
  box.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const dx = (e.clientX - drag.startX) * drag.scale;
    const dy = (e.clientY - drag.startY) * drag.scale;
    const s = drag.start;
    state.crop = clampCrop(drag.resize
      ? { x: s.x, y: s.y, width: s.width + dx, height: s.height + dy }
      : { x: s.x + dx, y: s.y + dy, width: s.width, height: s.height });
    drag.moved = drag.moved || Math.abs(dx) + Math.abs(dy) > 2;
    drawCrop();
  });
  const end = () => {
    if (!drag) return;
    const moved = drag.moved;
    drag = null;
    if (moved) cropChanged();
  };
  box.addEventListener('pointerup', end);
  box.addEventListener('pointercancel', end);
  let keyTimer = null;
  box.addEventListener('keydown', (e) => {
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const step = steps[e.key];
    if (!step || !state.crop || !state.imageSize) return;
    e.preventDefault();
    const d = Math.max(2, Math.round(state.imageSize.width / 50));
    const c = state.crop;
    state.crop = clampCrop(e.shiftKey
      ? { x: c.x, y: c.y, width: c.width + step[0] * d, height: c.height + step[1] * d }
      : { x: c.x + step[0] * d, y: c.y + step[1] * d, width: c.width, height: c.height });
    drawCrop();
    clearTimeout(keyTimer);
    keyTimer = setTimeout(cropChanged, 400);
  });
}

function setupUpload() {
  const drop = $('drop');
  const input = $('file');
  for (const picker of [input, $('camera')]) {
    picker.addEventListener('change', () => {
      useFile(picker.files[0]);
      picker.value = ''; // choosing the same file again still fires
    });
  }
  setupCrop();
  drop.addEventListener('keydown', (e) => {
    if (e.target === drop && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      input.click();
    }
  });
  // Dropping anywhere works; only the zone highlights.
  window.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  window.addEventListener('dragleave', (e) => { if (!e.relatedTarget) drop.classList.remove('over'); });
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) useFile(file);
    else showMessage('Drop an image file (JPEG, PNG, WebP, GIF, BMP or TIFF).');
  });
  document.addEventListener('paste', (e) => {
    const items = (e.clipboardData && e.clipboardData.files) || [];
    const file = Array.from(items).find((f) => f.type.startsWith('image/'));
    if (file) {
      e.preventDefault();
      useFile(file);
    }
  });
}

// ---- filters ---------------------------------------------------------------

async function setupFilters() {
  const box = $('facet-selects');
  let facets = {};
  try {
    facets = (await api('/api/facets')).facets;
  } catch (e) {
    showMessage(`Filters unavailable: ${e.message}`);
  }
  const fields = Object.keys(facets).sort((a, b) => {
    const ia = FACET_ORDER.indexOf(a), ib = FACET_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  for (const field of fields) {
    const row = el('div', 'row');
    const label = el('label', '', field);
    label.htmlFor = `filter-${field}`;
    const select = el('select');
    select.id = `filter-${field}`;
    select.dataset.field = field;
    select.append(new Option('any', ''));
    for (const [value, count] of Object.entries(facets[field])) {
      select.append(new Option(`${value} (${count})`, value));
    }
    select.addEventListener('change', () => {
      state.filters[field] = select.value;
      state.page = 0;
      render();
    });
    row.append(label, select);
    box.append(row);
  }
  if (fields.length === 0) box.append(el('p', 'meta', 'This catalogue has no labels to filter by.'));
  for (const id of ['k', 'metric']) $(id).addEventListener('change', () => render());
  $('clear').addEventListener('click', () => {
    state.filters = {};
    state.q = '';
    state.page = 0;
    $('name').value = '';
    for (const s of box.querySelectorAll('select')) s.value = '';
    render();
  });
  $('name-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.q = $('name').value.trim();
    state.page = 0;
    if (location.hash === '#/' || location.hash === '') render();
    else location.hash = '#/';
  });
}

window.addEventListener('hashchange', () => {
  render();
  $('main').focus({ preventScroll: true });
  window.scrollTo(0, 0);
});

(async function start() {
  // On a phone the results matter more than the menus: start folded.
  if (window.matchMedia('(max-width: 720px)').matches) $('filter-box').open = false;
  setupUpload();
  await setupFilters();
  render();
})();
