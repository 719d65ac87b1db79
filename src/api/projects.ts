import { deleteProject } from '../domain/projectDeletion.js';
import { newToken } from '../domain/tokens.js';
import { notFound } from '../http/errors.js';
import { pathInteger, type AppDeps, type JsonBody, type OperationHandlers } from '../http/handlers.js';
import { principalOf } from '../http/access.js';
import { pageRequest, setPaginationHeaders } from '../http/pagination.js';
import { sendJson } from '../http/respond.js';
import { listLiveProjects } from '../store/listings.js';
import { insertProject } from '../store/projects.js';
import { presentProject } from './presenters.js';
import { requireLiveProject } from './projectAccess.js';

export function projectHandlers({ db, config, clock, log, background }: AppDeps): OperationHandlers {
  return {
    async createProject(c, ctx) {
      const body = c.request.requestBody as JsonBody<'createProject'>;
      const project = await insertProject(db, {
        name: body.name,
        repoUrl: body.repo_url,
        ciConfig: body.ci_config ?? null,
        runnersToken: newToken(),
        sharedRunnersEnabled: body.shared_runners_enabled ?? true,
        buildTimeout: body.build_timeout ?? 3600,
        buildAllowGitFetch: body.build_allow_git_fetch ?? true,
        createdAt: clock.now().toISOString(),
      });
      sendJson(ctx, 201, presentProject(project));
    },

    async getProject(c, ctx) {
      const project = await requireLiveProject(db, c);
      sendJson(ctx, 200, presentProject(project, principalOf(ctx)?.role));
    },

    /** Newest first, one page at a time (the web view's first page). */
    async listProjects(c, ctx) {
      const page = pageRequest(c);
      const listing = await listLiveProjects(db, page);
      setPaginationHeaders(ctx, page, listing.total);
      const role = principalOf(ctx)?.role;
      sendJson(ctx, 200, listing.items.map((project) => presentProject(project, role)));
    },

    /** Gone at once for runners and this API; its data goes in the background, which is not awaited. */
    async deleteProject(c, ctx) {
      const deletion = await deleteProject({ db, config, log }, pathInteger(c, 'id'));
      if (!deletion) throw notFound();
      background.track(deletion.removal);
      sendJson(ctx, 202, { message: '202 Accepted' });
    },
  };
}
