import { IdParams } from '../api/fields';
import type { ApiRoutes } from '../api/route';
import { AppointmentScheduleView, AppointmentSettingsInput, AppointmentSettingsView } from './schemas';
import type { AppointmentService } from './service';

/** The appointment workflows' settings and each appointment's messages. Thin: parse, authorise, call the service. */
export function appointmentRoutes(routes: ApiRoutes, appointments: AppointmentService): void {
  routes
    .add({
      method: 'get',
      path: '/v1/appointment-settings',
      summary: 'Which messages the appointment workflows send for the company (defaults when never set)',
      tags: ['appointments'],
      access: 'agent',
      responses: { 200: { description: 'The company’s settings', schema: AppointmentSettingsView } },
      handler: async ({ auth }) => ({ status: 200, body: await appointments.getSettings(auth.companyId) }),
    })
    .add({
      method: 'put',
      path: '/v1/appointment-settings',
      summary: 'Turn each appointment message on or off for the company; running workflows apply it at each message’s instant',
      tags: ['appointments'],
      access: 'manager',
      body: AppointmentSettingsInput,
      responses: {
        201: { description: 'Created', schema: AppointmentSettingsView },
        200: { description: 'Replaced', schema: AppointmentSettingsView },
      },
      handler: async ({ auth, body }) => {
        const { created, settings } = await appointments.putSettings(auth.companyId, body);
        return { status: created ? 201 : 200, body: settings };
      },
    })
    .add({
      method: 'get',
      path: '/v1/appointments/:id/schedule',
      summary: 'The appointment’s workflow: messages sent or skipped (with why) and what it plans next',
      tags: ['appointments'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'The schedule', schema: AppointmentScheduleView } },
      handler: async ({ auth, params }) => ({ status: 200, body: await appointments.getSchedule(auth.companyId, params.id) }),
    });
}
