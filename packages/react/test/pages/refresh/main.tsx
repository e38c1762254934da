// Entry of the fast refresh page (served by a Vite dev server): not a refresh boundary itself, it
// renders App.tsx, the module the test rewrites.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import App from './App.js';

createRoot(document.getElementById('app')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
