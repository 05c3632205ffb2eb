import type { RouteDeps } from '../app';
import type { ApiRoutes } from '../route';
import { appointmentRoutes } from './appointments';
import { branchRoutes } from './branches';
import { customerRoutes } from './customers';
import { serviceRoutes } from './services';
import { staffRoutes } from './staff';

/** The organisation directory: branches, services, staff, customers, appointments. */
export function directoryRoutes(routes: ApiRoutes, deps: RouteDeps): void {
  branchRoutes(routes, deps);
  serviceRoutes(routes, deps);
  staffRoutes(routes, deps);
  customerRoutes(routes, deps);
  appointmentRoutes(routes, deps);
}
