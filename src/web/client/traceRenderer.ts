import { AnsiUp } from 'ansi_up';

/**
 * Turns a job's trace, arriving in pieces of any size, into lines: ANSI colours through
 * ansi_up, and GitLab's collapsible sections
 * (`section_start:<unix time>:<name>[<options>]\r\e[0K<header>` … `section_end:<unix time>:<name>\r\e[0K`)
 * as <details> elements whose summary is the header line. Only whole lines are rendered
 * for good; the line still being written is shown as it stands and redrawn as it grows.
 */
const SECTION_MARKER = /section_(start|end):(\d+):([A-Za-z0-9_.-]+)(?:\[[^\]\r\n]*\])?\r\x1b\[0K/g;

interface OpenSection {
  name: string;
  startedAt: number;
  element: HTMLDetailsElement;
  summary: HTMLElement;
  body: HTMLElement;
}

export class TraceRenderer {
  private readonly ansi = new AnsiUp();
  private pending = '';
  private readonly sections: OpenSection[] = [];
  private partial: HTMLElement | undefined;

  constructor(private readonly root: HTMLElement) {
    this.ansi.use_classes = true;
  }

  append(text: string): void {
    this.pending += text;
    let newline = this.pending.indexOf('\n');
    while (newline !== -1) {
      this.renderLine(this.pending.slice(0, newline));
      this.pending = this.pending.slice(newline + 1);
      newline = this.pending.indexOf('\n');
    }
    this.showPartial();
  }

  /** The trace is complete: the last line, even without a newline, is final. */
  finish(): void {
    if (this.pending !== '') this.renderLine(this.pending);
    this.pending = '';
    this.showPartial();
  }

  reset(): void {
    this.root.replaceChildren();
    this.sections.length = 0;
    this.pending = '';
    this.partial = undefined;
  }

  private get container(): HTMLElement {
    return this.sections[this.sections.length - 1]?.body ?? this.root;
  }

  private renderLine(raw: string): void {
    let rest = raw;
    let headerFor: OpenSection | undefined;
    SECTION_MARKER.lastIndex = 0;
    for (let match = SECTION_MARKER.exec(rest); match; match = SECTION_MARKER.exec(rest)) {
      const [marker, kind, time, name] = match as unknown as [string, string, string, string];
      rest = rest.slice(0, match.index) + rest.slice(match.index + marker.length);
      SECTION_MARKER.lastIndex = match.index;
      if (kind === 'start') headerFor = this.openSection(name!, Number(time));
      else this.closeSection(name!, Number(time));
    }
    const html = this.ansi.ansi_to_html(visibleText(rest));
    if (headerFor) {
      headerFor.summary.insertAdjacentHTML('beforeend', html);
      return;
    }
    if (rest === '' && raw !== '') return; // a line that held only section markers
    const line = document.createElement('div');
    line.className = 'line';
    line.innerHTML = html || '\u200b';
    this.container.append(line);
  }

  private openSection(name: string, startedAt: number): OpenSection {
    const element = document.createElement('details');
    element.open = true;
    element.className = 'section';
    element.dataset.section = name;
    const summary = document.createElement('summary');
    const body = document.createElement('div');
    body.className = 'section-body';
    element.append(summary, body);
    this.container.append(element);
    const section = { name, startedAt, element, summary, body };
    this.sections.push(section);
    return section;
  }

  private closeSection(name: string, endedAt: number): void {
    const index = this.sections.map((section) => section.name).lastIndexOf(name);
    if (index === -1) return;
    for (const section of this.sections.splice(index)) {
      const duration = document.createElement('span');
      duration.className = 'section-duration';
      duration.textContent = formatDuration(endedAt - section.startedAt);
      section.summary.append(duration);
    }
  }

  private showPartial(): void {
    this.partial?.remove();
    this.partial = undefined;
    if (this.pending === '') return;
    // A throwaway converter: the partial line must not move the real one's colour state.
    const preview = new AnsiUp();
    preview.use_classes = true;
    const line = document.createElement('div');
    line.className = 'line partial';
    line.innerHTML = preview.ansi_to_html(visibleText(this.pending.replace(SECTION_MARKER, '')));
    this.container.append(line);
    this.partial = line;
  }
}

/** What a terminal would show of a line: a carriage return lets the text after it overwrite what came before. */
function visibleText(line: string): string {
  const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
  const lastReturn = trimmed.lastIndexOf('\r');
  return lastReturn === -1 ? trimmed : trimmed.slice(lastReturn + 1);
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes}m ${seconds % 60}s` : `${seconds}s`;
}
