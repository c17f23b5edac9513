// Small formatting helpers shared by the table and the drill-down.

/** A global id (base64 of `Type:uuid`) shortened to the random end of its uuid. */
export function shortId(globalId) {
  try {
    const [, uuid] = atob(globalId).split(':');
    if (uuid) return uuid.replaceAll('-', '').slice(-8);
  } catch {
    // Not base64: shown as it is, shortened.
  }
  return globalId.slice(-8);
}

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** Local time with seconds and milliseconds; the date too when it is not today. */
export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return d.toDateString() === new Date().toDateString() ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

const counts = new Intl.NumberFormat('en');
export const formatCount = (n) => counts.format(n);

export function element(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value !== undefined && value !== null) el[key] = value;
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

/** An id shown short; its full form on hover, copied to the clipboard on click. */
export function idButton(globalId) {
  const button = element('button', { type: 'button', className: 'id', title: `${globalId} (click to copy)`, textContent: shortId(globalId) });
  button.dataset.id = globalId;
  return button;
}

export function copyId(button) {
  navigator.clipboard?.writeText(button.dataset.id).then(
    () => {
      button.classList.add('copied');
      setTimeout(() => button.classList.remove('copied'), 1000);
    },
    () => {},
  );
}
