// WebAuthn ceremonies for the sign-in security and challenge pages (the CSP allows no inline script).
// The server's options are JSON with base64url strings; the browser wants ArrayBuffers, and back.
(function () {
  "use strict";

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var padded = base64 + "===".slice((base64.length + 3) % 4);
    var binary = atob(padded);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.message || data.error || ("HTTP " + response.status));
        return data;
      });
    });
  }

  function showError(section, error) {
    var box = section.querySelector("#passkey-error");
    box.textContent = error && error.message ? error.message : String(error);
    box.hidden = false;
  }

  function descriptors(list) {
    return (list || []).map(function (item) { return Object.assign({}, item, {id: toBuffer(item.id)}); });
  }

  function register(section) {
    post(section.dataset.optionsUrl).then(function (options) {
      options.challenge = toBuffer(options.challenge);
      options.user.id = toBuffer(options.user.id);
      options.excludeCredentials = descriptors(options.excludeCredentials);
      return navigator.credentials.create({publicKey: options});
    }).then(function (credential) {
      var response = credential.response;
      return post(section.dataset.url, {
        name: (section.querySelector("#passkey-name") || {}).value || "",
        credential: {
          id: credential.id, rawId: toText(credential.rawId), type: credential.type,
          authenticatorAttachment: credential.authenticatorAttachment || undefined,
          clientExtensionResults: credential.getClientExtensionResults(),
          response: {
            clientDataJSON: toText(response.clientDataJSON),
            attestationObject: toText(response.attestationObject),
            transports: response.getTransports ? response.getTransports() : []
          }
        }
      });
    }).then(function (answer) { window.location.assign(answer.redirect); })
      .catch(function (error) { showError(section, error); });
  }

  function authenticate(section) {
    post(section.dataset.optionsUrl).then(function (options) {
      options.challenge = toBuffer(options.challenge);
      options.allowCredentials = descriptors(options.allowCredentials);
      return navigator.credentials.get({publicKey: options});
    }).then(function (credential) {
      var response = credential.response;
      return post(section.dataset.url, {
        credential: {
          id: credential.id, rawId: toText(credential.rawId), type: credential.type,
          authenticatorAttachment: credential.authenticatorAttachment || undefined,
          clientExtensionResults: credential.getClientExtensionResults(),
          response: {
            clientDataJSON: toText(response.clientDataJSON),
            authenticatorData: toText(response.authenticatorData),
            signature: toText(response.signature),
            userHandle: response.userHandle ? toText(response.userHandle) : null
          }
        }
      });
    }).then(function (answer) { window.location.assign(answer.redirect); })
      .catch(function (error) { showError(section, error); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var add = document.getElementById("add-passkey");
    var addButton = document.getElementById("passkey-register");
    if (add && addButton) addButton.addEventListener("click", function () { register(add); });
    var challenge = document.getElementById("passkey-challenge");
    var useButton = document.getElementById("passkey-sign-in");
    if (challenge && useButton) useButton.addEventListener("click", function () { authenticate(challenge); });
  });
})();
