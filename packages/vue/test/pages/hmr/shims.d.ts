// Type-checking the page's TypeScript (lint) without a Vue SFC compiler: a .vue module is a component.
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent;
  export default component;
}
