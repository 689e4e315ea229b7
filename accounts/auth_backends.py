"""Authentication backends: the login throttle in front of Django's own password check."""

from axes.backends import AxesStandaloneBackend


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check for logins over the web (the login page, Django admin's login).

    Axes refuses to work without the request, because it counts attempts per request. A call
    without one is not a login over the web (the test client's `login()`, a management command),
    so there is nothing to throttle: it passes on to the next backend, which checks the password.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
