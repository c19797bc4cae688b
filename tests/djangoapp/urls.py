from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse


def where(request: HttpRequest) -> JsonResponse:
    """Where Django thinks it is: the path it routes on and the URLs it builds."""
    return JsonResponse(
        {
            "path": request.path,
            "path_info": request.path_info,
            "script_name": request.META.get("SCRIPT_NAME", ""),
            "reverse": reverse("where"),
        }
    )


urlpatterns = [path("where/", where, name="where")]
