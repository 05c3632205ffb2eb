import type { ZodType } from 'zod';
import { ErrorResponse, IdParams } from '../api/fields';
import type { Role } from '../api/roles';
import type { ApiRoutes } from '../api/route';
import { z } from '../api/zod';
import {
  Appointment,
  AppointmentQuery,
  Branch,
  BranchQuery,
  CreateAppointment,
  CreateBranch,
  CreateCustomer,
  CreateService,
  CreateStaff,
  Customer,
  CustomerQuery,
  Service,
  ServiceQuery,
  Staff,
  StaffQuery,
  UpdateAppointment,
  UpdateBranch,
  UpdateCustomer,
  UpdateService,
  UpdateStaff,
} from './schemas';
import type { DirectoryService } from './service';

interface EntityRoutes<C, U, Q> {
  /** e.g. `/v1/branches` */
  path: string;
  /** e.g. `branch`, for summaries */
  noun: string;
  writeAccess: Role;
  create: { body: ZodType<C>; summary: string; handle(companyId: string, body: C): Promise<unknown> };
  list: { query: ZodType<Q>; summary: string; description: string; handle(companyId: string, query: Q): Promise<unknown[]> };
  get: (companyId: string, id: string) => Promise<unknown>;
  update: {
    body: ZodType<U>;
    summary: string;
    handle(companyId: string, id: string, body: U): Promise<unknown>;
    responses?: Record<number, { description: string; schema?: ZodType }>;
  };
  view: ZodType;
}

/** The four routes every directory entity has: create, list, read, change. Reads need an agent key. */
function entityRoutes<C, U, Q>(routes: ApiRoutes, e: EntityRoutes<C, U, Q>): void {
  routes
    .add({
      method: 'post',
      path: e.path,
      summary: e.create.summary,
      tags: ['directory'],
      access: e.writeAccess,
      body: e.create.body,
      responses: { 201: { description: 'Created', schema: e.view } },
      handler: async ({ auth, body }) => ({ status: 201, body: await e.create.handle(auth.companyId, body) }),
    })
    .add({
      method: 'get',
      path: e.path,
      summary: e.list.summary,
      tags: ['directory'],
      access: 'agent',
      query: e.list.query,
      responses: { 200: { description: e.list.description, schema: z.object({ items: z.array(e.view) }) } },
      handler: async ({ auth, query }) => ({ status: 200, body: { items: await e.list.handle(auth.companyId, query) } }),
    })
    .add({
      method: 'get',
      path: `${e.path}/:id`,
      summary: `Read a ${e.noun}`,
      tags: ['directory'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: `The ${e.noun}`, schema: e.view } },
      handler: async ({ auth, params }) => ({ status: 200, body: await e.get(auth.companyId, params.id) }),
    })
    .add({
      method: 'patch',
      path: `${e.path}/:id`,
      summary: e.update.summary,
      tags: ['directory'],
      access: e.writeAccess,
      params: IdParams,
      body: e.update.body,
      responses: { 200: { description: `The changed ${e.noun}`, schema: e.view }, ...e.update.responses },
      handler: async ({ auth, params, body }) => ({ status: 200, body: await e.update.handle(auth.companyId, params.id, body) }),
    });
}

/** The organisation directory: branches, services, staff, customers, appointments. Thin: parse, authorise, call the service. */
export function directoryRoutes(routes: ApiRoutes, directory: DirectoryService): void {
  entityRoutes(routes, {
    path: '/v1/branches',
    noun: 'branch',
    writeAccess: 'admin',
    view: Branch,
    create: { body: CreateBranch, summary: 'Create a branch', handle: directory.createBranch },
    list: { query: BranchQuery, summary: 'List branches', description: 'Branches', handle: directory.listBranches },
    get: directory.getBranch,
    update: { body: UpdateBranch, summary: 'Change a branch', handle: directory.updateBranch },
  });
  entityRoutes(routes, {
    path: '/v1/services',
    noun: 'service',
    writeAccess: 'admin',
    view: Service,
    create: { body: CreateService, summary: 'Create a service of a branch', handle: directory.createService },
    list: {
      query: ServiceQuery,
      summary: 'List services, optionally of one branch',
      description: 'Services',
      handle: directory.listServices,
    },
    get: directory.getService,
    update: { body: UpdateService, summary: 'Change a service', handle: directory.updateService },
  });
  entityRoutes(routes, {
    path: '/v1/staff',
    noun: 'staff member',
    writeAccess: 'admin',
    view: Staff,
    create: { body: CreateStaff, summary: 'Create a staff member and the services they are qualified for', handle: directory.createStaff },
    list: {
      query: StaffQuery,
      summary: 'List staff members by branch, role and availability',
      description: 'Staff members',
      handle: directory.listStaff,
    },
    get: directory.getStaff,
    update: {
      body: UpdateStaff,
      summary: 'Change a staff member; serviceIds, when given, replaces the whole set',
      handle: directory.updateStaff,
    },
  });
  entityRoutes(routes, {
    path: '/v1/customers',
    noun: 'customer',
    writeAccess: 'admin',
    view: Customer,
    create: { body: CreateCustomer, summary: 'Create a customer', handle: directory.createCustomer },
    list: {
      query: CustomerQuery,
      summary: 'List customers, by home branch or phone number',
      description: 'Customers',
      handle: directory.listCustomers,
    },
    get: directory.getCustomer,
    update: { body: UpdateCustomer, summary: 'Change a customer (null clears an optional field)', handle: directory.updateCustomer },
  });
  entityRoutes(routes, {
    path: '/v1/appointments',
    noun: 'appointment',
    writeAccess: 'manager',
    view: Appointment,
    create: {
      body: CreateAppointment,
      summary: 'Book an appointment (service and staff member of the same branch)',
      handle: directory.createAppointment,
    },
    list: {
      query: AppointmentQuery,
      summary: 'List appointments by customer, branch, staff member and start time',
      description: 'Appointments, by start time',
      handle: directory.listAppointments,
    },
    get: directory.getAppointment,
    update: {
      body: UpdateAppointment,
      summary: 'Change an appointment’s times, staff member, status or notes (not a cancellation)',
      handle: directory.updateAppointment,
      responses: { 409: { description: 'The appointment is cancelled (code appointment_cancelled)', schema: ErrorResponse } },
    },
  });
}
