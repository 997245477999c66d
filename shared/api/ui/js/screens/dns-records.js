// The DNS records a domain publishes, each with a button that copies its value.

import { html } from 'lit';

export function dnsRecords(records) {
  return html`<div class="table-wrap" tabindex="0"><table>
    <caption class="visually-hidden">DNS records to publish</caption>
    <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Value</th><th scope="col">Why</th></tr></thead>
    <tbody>${records.map((r) => html`<tr>
      <th scope="row" class="mono">${r.name}</th>
      <td>${r.type}</td>
      <td><div class="copy-row"><code>${r.value}</code>
        <button type="button" @click=${(e) => copy(e, r.value)} aria-label="Copy the value of ${r.name}">Copy</button></div></td>
      <td class="muted">${r.purpose}</td>
    </tr>`)}</tbody>
  </table></div>`;
}

// Copies `text`, and says on the button whether it could.
export async function copy(event, text) {
  const button = event.currentTarget;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select and copy';
  }
}
