// Starts Swagger UI on /openapi.json. Kept in its own file because the
// page's Content-Security-Policy allows no inline script.
window.addEventListener('DOMContentLoaded', () => {
  window.ui = window.SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    // No badge from the public validator: nothing leaves this origin.
    validatorUrl: null,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    persistAuthorization: false,
  });
});
