import type { RouteDeps } from '../app';
import type { ApiRoutes } from '../route';
import { branchRoutes } from './branches';

/** The organisation directory: branches, services, staff, customers, appointments. */
export function directoryRoutes(routes: ApiRoutes, deps: RouteDeps): void {
  branchRoutes(routes, deps);
}
