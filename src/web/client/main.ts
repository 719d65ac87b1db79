import { api, ApiError, currentSession, rememberSession, type Schemas, type Session } from './api';
import { h, shortSha, statusBadge, when } from './dom';
import { TraceRenderer } from './traceRenderer';

type Job = Schemas['Job'];
type Pipeline = Schemas['Pipeline'];
type Project = Schemas['Project'];

/**
 * The web view: projects → pipelines → a pipeline's stages as columns → a job with its
 * live trace. Routes live in the URL's hash, so the server serves one page. Everything
 * comes from the user API with the session cookie; an admin sees action buttons, a viewer
 * does not.
 */
const app = document.getElementById('app')!;
let session: Session | undefined;
/** What the current page must stop when another one is shown (timers, event streams). */
let leave: (() => void)[] = [];

const FINISHED = new Set(['success', 'failed', 'canceled', 'skipped']);
const REFRESH_MS = 2000;

window.addEventListener('hashchange', () => void route());
void start();

async function start(): Promise<void> {
  session = await currentSession();
  rememberSession(session);
  await route();
}

function show(...children: (Node | string)[]): void {
  app.replaceChildren(...children);
}

async function route(): Promise<void> {
  for (const stop of leave) stop();
  leave = [];
  renderSessionNav();
  const path = location.hash.replace(/^#/, '') || '/';
  if (!session) {
    showSignIn();
    return;
  }
  try {
    let match: RegExpMatchArray | null;
    if ((match = path.match(/^\/projects\/(\d+)\/jobs\/(\d+)$/))) await showJob(Number(match[1]), Number(match[2]));
    else if ((match = path.match(/^\/projects\/(\d+)\/pipelines\/(\d+)$/))) await showPipeline(Number(match[1]), Number(match[2]));
    else if ((match = path.match(/^\/projects\/(\d+)$/))) await showProject(Number(match[1]));
    else await showProjects();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      session = undefined;
      rememberSession(undefined);
      showSignIn();
      return;
    }
    show(h('p', { class: 'error' }, err instanceof Error ? err.message : String(err)));
  }
}

function renderSessionNav(): void {
  const nav = document.getElementById('session')!;
  if (!session) {
    nav.replaceChildren();
    return;
  }
  nav.replaceChildren(
    h('span', { class: 'role', 'data-role': session.role }, session.role === 'admin' ? 'administrator' : 'viewer (read-only)'),
    h('button', { type: 'button', class: 'link', onclick: () => void signOut() }, 'Sign out'),
  );
}

function showSignIn(): void {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', placeholder: 'admin or viewer token', required: true });
  const message = h('p', { class: 'error' });
  const form = h(
    'form',
    {
      class: 'sign-in',
      onsubmit: (event: Event) => {
        event.preventDefault();
        api<Session>('POST', '/-/session', { token: input.value }).then(
          (created) => {
            session = created;
            rememberSession(created);
            void route();
          },
          (err: unknown) => {
            message.textContent = err instanceof ApiError && err.status === 401 ? 'That token is not valid here.' : String(err);
          },
        );
      },
    },
    h('h1', {}, 'Sign in'),
    h('label', {}, 'Token ', input),
    h('button', { type: 'submit' }, 'Sign in'),
    message,
  );
  show(form);
  input.focus();
}

async function signOut(): Promise<void> {
  await api('DELETE', '/-/session');
  session = undefined;
  rememberSession(undefined);
  location.hash = '#/';
  await route();
}

const canAct = () => session?.role === 'admin';

/** An action button (admins only): posts, then redraws the page. */
function actionButton(label: string, path: string, after?: (result: unknown) => void): HTMLElement | null {
  if (!canAct()) return null;
  const button = h('button', { type: 'button', class: 'action', 'data-action': label.toLowerCase() }, label);
  button.addEventListener('click', () => {
    button.setAttribute('disabled', '');
    api('POST', path).then(
      (result) => (after ? after(result) : void route()),
      (err: unknown) => {
        button.removeAttribute('disabled');
        alert(err instanceof Error ? err.message : String(err));
      },
    );
  });
  return button;
}

async function showProjects(): Promise<void> {
  const projects = await api<Project[]>('GET', '/api/v4/projects?per_page=100');
  show(
    h('h1', {}, 'Projects'),
    projects.length === 0
      ? h('p', { class: 'muted' }, 'No projects yet.')
      : h(
          'table',
          { class: 'list' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Project'), h('th', {}, 'Status'), h('th', {}, 'Repository'))),
          h(
            'tbody',
            {},
            ...projects.map((project) =>
              h(
                'tr',
                {},
                h('td', {}, h('a', { href: `#/projects/${project.id}` }, project.name)),
                h('td', {}, h('img', { src: `/api/v4/projects/${project.id}/pipelines/badge.svg`, alt: 'pipeline status' })),
                h('td', { class: 'muted' }, project.repo_url),
              ),
            ),
          ),
        ),
  );
}

async function showProject(projectId: number): Promise<void> {
  const [project, pipelines] = await Promise.all([
    api<Project>('GET', `/api/v4/projects/${projectId}`),
    api<Pipeline[]>('GET', `/api/v4/projects/${projectId}/pipelines?per_page=50`),
  ]);
  show(
    h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, 'Projects'), ' / ', project.name),
    h('h1', {}, project.name, ' pipelines'),
    pipelines.length === 0
      ? h('p', { class: 'muted' }, 'No pipelines yet.')
      : h(
          'table',
          { class: 'list' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Status'), h('th', {}, 'Pipeline'), h('th', {}, 'Ref'), h('th', {}, 'Commit'), h('th', {}, 'Created'))),
          h(
            'tbody',
            {},
            ...pipelines.map((pipeline) =>
              h(
                'tr',
                {},
                h('td', {}, statusBadge(pipeline.status)),
                h('td', {}, h('a', { href: `#/projects/${projectId}/pipelines/${pipeline.id}` }, `#${pipeline.id}`)),
                h('td', {}, pipeline.ref),
                h('td', { class: 'mono' }, shortSha(pipeline.sha)),
                h('td', { class: 'muted' }, when(pipeline.created_at)),
              ),
            ),
          ),
        ),
  );
}

/** The newest job of each name (a retry replaces the job it repeats), grouped by stage in order. */
function stagesOf(jobs: Job[]): { stage: string; jobs: Job[] }[] {
  const newest = new Map<string, Job>();
  for (const job of jobs) {
    const seen = newest.get(job.name);
    if (!seen || seen.id < job.id) newest.set(job.name, job);
  }
  const stages: { stage: string; jobs: Job[] }[] = [];
  for (const job of jobs) {
    if (newest.get(job.name) !== job) continue;
    let column = stages.find((candidate) => candidate.stage === job.stage);
    if (!column) stages.push((column = { stage: job.stage, jobs: [] }));
    column.jobs.push(job);
  }
  return stages;
}

async function showPipeline(projectId: number, pipelineId: number): Promise<void> {
  const draw = async () => {
    const [project, pipeline, jobs] = await Promise.all([
      api<Project>('GET', `/api/v4/projects/${projectId}`),
      api<Pipeline>('GET', `/api/v4/projects/${projectId}/pipelines/${pipelineId}`),
      api<Job[]>('GET', `/api/v4/projects/${projectId}/pipelines/${pipelineId}/jobs`),
    ]);
    const base = `/api/v4/projects/${projectId}/pipelines/${pipelineId}`;
    show(
      h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, 'Projects'), ' / ', h('a', { href: `#/projects/${projectId}` }, project.name), ` / #${pipeline.id}`),
      h(
        'div',
        { class: 'heading' },
        h('h1', {}, `Pipeline #${pipeline.id} `, statusBadge(pipeline.status)),
        h('div', { class: 'actions' }, FINISHED.has(pipeline.status) ? null : actionButton('Cancel', `${base}/cancel`), ['failed', 'canceled'].includes(pipeline.status) ? actionButton('Retry', `${base}/retry`) : null),
      ),
      h('p', { class: 'muted' }, `${pipeline.ref} · `, h('span', { class: 'mono' }, shortSha(pipeline.sha)), ` · ${when(pipeline.created_at)}`),
      h(
        'div',
        { class: 'stages' },
        ...stagesOf(jobs).map((column) =>
          h(
            'section',
            { class: 'stage', 'data-stage': column.stage },
            h('h2', {}, column.stage),
            ...column.jobs.map((job) =>
              h(
                'a',
                { class: `job status-${job.status}`, 'data-job': job.name, href: `#/projects/${projectId}/jobs/${job.id}` },
                h('span', { class: 'job-name' }, job.name),
                statusBadge(job.status),
              ),
            ),
          ),
        ),
      ),
    );
    return pipeline;
  };
  const pipeline = await draw();
  if (!FINISHED.has(pipeline.status)) {
    const timer = setInterval(() => {
      draw().then(
        (current) => FINISHED.has(current.status) && clearInterval(timer),
        () => clearInterval(timer),
      );
    }, REFRESH_MS);
    leave.push(() => clearInterval(timer));
  }
}

async function showJob(projectId: number, jobId: number): Promise<void> {
  const base = `/api/v4/projects/${projectId}/jobs/${jobId}`;
  const [project, job] = await Promise.all([api<Project>('GET', `/api/v4/projects/${projectId}`), api<Job>('GET', base)]);
  const header = h('div', { class: 'heading' });
  const details = h('p', { class: 'muted' });
  const log = h('pre', { class: 'trace', id: 'trace' });
  const drawHeader = (current: Job) => {
    header.replaceChildren(
      h('h1', {}, `${current.name} `, statusBadge(current.status)),
      h(
        'div',
        { class: 'actions' },
        current.artifacts_file ? h('a', { class: 'button', href: `${base}/artifacts`, download: current.artifacts_file.filename }, 'Download artifacts') : null,
        ['created', 'pending', 'running', 'canceling'].includes(current.status) ? actionButton('Cancel', `${base}/cancel`, () => void refresh()) : null,
        ['success', 'failed', 'canceled'].includes(current.status) ? actionButton('Retry', `${base}/retry`, (retried) => (location.hash = `#/projects/${projectId}/jobs/${(retried as Job).id}`)) : null,
        current.when === 'manual' && current.status === 'skipped' ? actionButton('Play', `${base}/play`, () => void route()) : null,
      ),
    );
    details.replaceChildren(
      `Stage ${current.stage} · ${current.ref}`,
      current.runner ? ` · runner #${current.runner.id} ${current.runner.description ?? ''}` : '',
      ` · started ${when(current.started_at)} · finished ${when(current.finished_at)}`,
    );
  };
  const refresh = async () => drawHeader(await api<Job>('GET', base));
  drawHeader(job);
  show(
    h('nav', { class: 'crumbs' }, h('a', { href: '#/' }, 'Projects'), ' / ', h('a', { href: `#/projects/${projectId}` }, project.name), ` / ${job.name}`),
    header,
    details,
    log,
  );

  // EventSource reconnects by itself with Last-Event-ID; 'end' closes it for good.
  const renderer = new TraceRenderer(log);
  const events = new EventSource(`${base}/trace/stream`);
  log.dataset.state = 'following';
  events.addEventListener('trace', (event) => {
    const { text } = JSON.parse((event as MessageEvent<string>).data) as { text: string };
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    renderer.append(text);
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  });
  events.addEventListener('reset', () => renderer.reset());
  events.addEventListener('end', () => {
    events.close();
    renderer.finish();
    log.dataset.state = 'complete';
    void refresh();
  });
  leave.push(() => events.close());
  // The header follows the job's status while the trace streams.
  const timer = setInterval(() => {
    if (log.dataset.state === 'complete') clearInterval(timer);
    else void refresh().catch(() => clearInterval(timer));
  }, REFRESH_MS);
  leave.push(() => clearInterval(timer));
}
