import { Pagination, TimeZone, Uuid } from './common';
import { Email, Name, Phone } from './fields';
import { z } from '../zod';

/** A browser's `PushSubscription.toJSON()`: where and how to send Web Push messages. */
export const PushSubscription = z
  .object({
    endpoint: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2000),
    expirationTime: z.number().nullable().optional(),
    keys: z
      .object({
        p256dh: z.string().min(1).max(200),
        auth: z.string().min(1).max(100),
      })
      .strict(),
  })
  .strict()
  .openapi('PushSubscription');

const customerFields = {
  name: Name,
  email: Email.nullable(),
  phone: Phone.nullable(),
  timeZone: TimeZone,
  homeBranchId: Uuid.nullable(),
  preferredStaffId: Uuid.nullable(),
  pushSubscription: PushSubscription.nullable(),
};

export const CreateCustomer = z
  .object({
    ...customerFields,
    email: customerFields.email.optional(),
    phone: customerFields.phone.optional(),
    timeZone: customerFields.timeZone.default('UTC'),
    homeBranchId: customerFields.homeBranchId.optional(),
    preferredStaffId: customerFields.preferredStaffId.optional(),
    pushSubscription: customerFields.pushSubscription.optional(),
  })
  .strict()
  .openapi('CreateCustomer');

export const UpdateCustomer = z.object(customerFields).partial().strict().openapi('UpdateCustomer');

export const CustomerQuery = Pagination.extend({
  branchId: Uuid.optional().openapi({ description: 'Home branch' }),
  phone: z.string().trim().min(1).max(40).optional().openapi({ description: 'Exact phone number as stored (encode `+` as %2B)' }),
}).strict();

export const Customer = z
  .object({
    id: Uuid,
    name: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    timeZone: z.string(),
    homeBranchId: Uuid.nullable(),
    preferredStaffId: Uuid.nullable(),
    pushSubscription: PushSubscription.nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Customer');
