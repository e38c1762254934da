// The tRPC router: a todo list. The mutation's server side changes the data, then publishes a
// query invalidation through the Switchboard HTTP API client, as a backend in front of a
// standalone Switchboard would. Every page subscribed to `trpc:global` refetches `['todos']`.
import { initTRPC } from '@trpc/server';
import { z } from 'zod';
import { Channels, type ApiClient, type TrpcSchema } from '@switchboard/client/server';

export interface Todo {
  id: number;
  text: string;
}

export function createRouter(realtime: ApiClient<TrpcSchema>) {
  const t = initTRPC.create();
  const todos: Todo[] = [];
  let nextId = 1;
  return t.router({
    list: t.procedure.query(() => todos),
    add: t.procedure.input(z.object({ text: z.string().min(1).max(200) })).mutation(async ({ input }) => {
      const todo = { id: nextId++, text: input.text };
      todos.push(todo);
      await realtime.publish(Channels.global(), { type: 'query-invalidation', queryKey: ['todos'] });
      return todo;
    }),
  });
}

export type AppRouter = ReturnType<typeof createRouter>;
